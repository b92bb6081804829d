"""Training and evaluating a face embedding run (what ``cnnkit faces train|eval`` do).

:func:`train_run`:

1. the training identities (``--data``), a validation part of them (a share of every
   identity's images: tau is chosen on pairs the training never saw), and the test
   identities: ``--test-data``, or by default the *other* classes of a class dataset
   (``fashion-mnist:0-6`` -> the test images of ``fashion-mnist:7-9``: one-shot learning is
   judged on identities never seen in training), or a share of a folder's identities;
2. :func:`~cnnkit.faces.fit.fit_embedder` (one line and one metrics.jsonl record per epoch);
3. tau from the validation pairs (:func:`~cnnkit.faces.verify.choose_threshold`), stored
   with the weights;
4. :func:`evaluate`: verification on test pairs (ROC AUC, EER, TAR at FAR, accuracy at tau)
   and one-shot identification (one enrolled image per identity, every other image
   identified), written as metrics.json, report.md, roc.png and distances.png.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from statistics import fmean
from typing import Any

import torch

from cnnkit.errors import CnnkitError, DataError
from cnnkit.faces.embed import EmbeddingNet
from cnnkit.faces.identities import IdentitySet
from cnnkit.faces.pair_classifier import PairClassifier
from cnnkit.faces.pairs_file import IndexPairs
from cnnkit.numbers import check_range
from cnnkit.train.run import RunDir

__all__ = [
    "DISTANCES_PNG",
    "REPORT",
    "RESULT",
    "ROC_PNG",
    "FaceTrainSettings",
    "check_disjoint",
    "check_settings_numbers",
    "check_unseen",
    "eval_pairs",
    "evaluate",
    "is_class_source",
    "load_splits",
    "one_shot_identification",
    "report_text",
    "spelled",
    "train_run",
    "write_outputs",
]

ROC_PNG = "roc.png"
DISTANCES_PNG = "distances.png"
REPORT = "report.md"
RESULT = "metrics.json"


@dataclass(frozen=True)
class FaceTrainSettings:
    """Everything ``cnnkit faces train`` needs besides the output folder."""

    backbone: str = "quicknet"
    data: str = "fashion-mnist:0-6"
    test_data: str | None = None  # None: the other classes' test images, or 20% of a folder's identities
    image_size: int | None = None  # None: the data's own (class datasets), 64 (folders)
    channels: int | None = None
    per_identity: int | None = None  # at most this many training images per identity
    dim: int = 128
    epochs: int = 10
    p: int = 8
    k: int = 16
    lr: float = 3e-3
    loss: str = "triplet"
    mining: str = "semi_hard"
    margin: float = 0.2
    val_fraction: float = 0.1  # of every training identity's images, for tau
    tau_rule: str = "accuracy"  # or "far"
    target_far: float = 1e-3
    pairs: int = 3000  # same and as many different pairs, for validation and for test
    seed: int = 0
    threads: int = 0  # 0: torch's default
    device: str = "auto"  # where training and embedding run: auto (cuda, mps, cpu), cpu, cuda, cuda:N, mps
    command: str = ""


def is_class_source(text: str) -> bool:
    from cnnkit.faces.identity_sources import CLASS_SOURCES

    return text.split(":", 1)[0].strip().lower() in CLASS_SOURCES


def check_unseen(data: str, test_data: str) -> None:
    """DataError when ``test_data`` takes classes of the dataset ``data`` trains on (e.g.
    fashion-mnist:0-6 and fashion-mnist:0-2): the test identities must be unseen in training,
    or the reported one-shot figures are not about new identities."""
    from cnnkit.faces.identity_sources import (
        class_selection,
        format_class_selector,
        other_classes,
    )

    if not (is_class_source(data) and is_class_source(test_data)):
        return
    train_name, train_classes = class_selection(data)
    test_name, test_classes = class_selection(test_data)
    shared = sorted(train_classes & test_classes) if train_name == test_name else []
    if not shared:
        return
    hint = f"e.g. --test-data {other_classes(data)}" if ":" in data else f"or train on fewer, e.g. --data {train_name}:0-6"
    raise DataError(
        f"--test-data {test_data} shares class{'es' if len(shared) > 1 else ''} {format_class_selector(shared)} "
        f"with --data {data}; test identities must be unseen in training: pick other classes, {hint}"
    )


def check_disjoint(data_text: str, data: IdentitySet, test_text: str, test: IdentitySet) -> None:
    """DataError when test identities carry training identities' names (``--data folder:people
    --test-data folder:people``): the test would score faces the run has learnt. Two class
    datasets are :func:`check_unseen`'s (mnist's "0" and digits' "0" are other images)."""
    from cnnkit.faces.held_out import listed_names

    if is_class_source(data_text) and is_class_source(test_text):
        return
    shared = [n for n in test.names if n in set(data.names)]
    if shared:
        raise DataError(f"--test-data {test_text} holds {len(shared)} identities of --data {data_text} "
                        f"({listed_names(shared)}); test identities must be unseen in training: give a test set of "
                        "other people, or leave --test-data out to hold out 20% of the training folder's people")


def load_splits(settings: FaceTrainSettings) -> tuple[IdentitySet, IdentitySet, IdentitySet]:
    """(train, val, test) identity sets for ``settings`` (see the module docstring)."""
    from cnnkit.faces.identities import split_identities, split_within
    from cnnkit.faces.identity_sources import load_identities, other_classes

    if settings.test_data is not None:
        check_unseen(settings.data, settings.test_data)  # before any data is read
    gen = torch.Generator().manual_seed(settings.seed)
    options = {"image_size": settings.image_size, "channels": settings.channels}
    data = load_identities(settings.data, per_identity=settings.per_identity, seed=settings.seed, **options)
    test_text = settings.test_data
    if test_text is None and is_class_source(settings.data):
        if ":" not in settings.data:
            raise DataError(f"{settings.data} uses every class for training, leaving none unseen to test on; pick "
                            f"classes, e.g. --data {settings.data}:0-6, or give --test-data")
        test_text = other_classes(settings.data)
    if test_text is None:
        data, _, test = split_identities(data, test_fraction=0.2, generator=gen)
    else:
        split = "test" if is_class_source(test_text) else "train"
        test = load_identities(test_text, split=split, **options)
        check_disjoint(settings.data, data, test_text, test)
        if test.image_shape != data.image_shape:
            from cnnkit.data.convert import convert_images

            test.images = convert_images(test.images, data.image_shape)
    # At least 2 validation images an identity (when it has 4 or more): tau needs "same" pairs.
    val, train = split_within(data, fraction=settings.val_fraction, at_least=2, generator=gen)
    return train, val, test


def eval_pairs(data: IdentitySet, count: int, seed: int) -> IndexPairs:
    """Up to ``count`` same and ``count`` different pairs (fewer when the set cannot give them)."""
    from cnnkit.faces.pairs_file import make_pairs

    sizes = data.counts()
    same = min(count, int((sizes * (sizes - 1) // 2).sum()))
    total = int(sizes.sum())
    different = min(count, int((total * total - int((sizes * sizes).sum())) // 2))
    if same < 1 or different < 1:
        raise DataError(f"{data.source}: too few images to make same and different pairs; give each identity at "
                        "least two images and at least two identities")
    return make_pairs(data, same=same, different=different, generator=torch.Generator().manual_seed(seed))


def one_shot_identification(emb: torch.Tensor, identities: torch.Tensor, names: tuple[str, ...], *, tau: float,
                            draws: int = 5, seed: int = 0) -> dict[str, float]:
    """One-shot identification (1:K) on embeddings ``emb`` (N, d) with ``identities`` (N,).

    Each draw enrolls one random image of every identity that has two or more
    (:func:`~cnnkit.faces.gallery.enroll`) and identifies every other image of those
    identities (:func:`~cnnkit.faces.gallery.identify`). Returns the mean over ``draws`` of
    ``accuracy`` (the nearest enrolled identity is the right one), ``accepted`` (share with
    distance <= tau) and ``accepted_right`` (accepted and right), with ``accuracy_std``.
    """
    from cnnkit.faces.gallery import enroll, identify

    gen = torch.Generator().manual_seed(seed)
    groups = [(identities == k).nonzero().flatten() for k in identities.unique().tolist()]
    groups = [g for g in groups if len(g) >= 2]
    if len(groups) < 2:
        raise DataError("one-shot identification needs at least two identities with two or more images each")
    acc, accepted, right = [], [], []
    for _ in range(draws):
        enrolled = torch.stack([g[int(torch.randint(len(g), (1,), generator=gen))] for g in groups])  # (K,)
        probes = torch.cat(groups)
        probes = probes[~torch.isin(probes, enrolled)]
        gallery = enroll(emb[enrolled], torch.arange(len(enrolled)),
                         [names[int(identities[r])] for r in enrolled], tau=tau, model_fingerprint="")
        matches = identify(gallery, emb[probes])
        truth = [names[int(identities[r])] for r in probes]
        acc.append(sum(m.nearest == t for m, t in zip(matches, truth)) / len(truth))
        accepted.append(sum(m.known for m in matches) / len(truth))
        right.append(sum(m.name == t for m, t in zip(matches, truth)) / len(truth))
    spread = float(torch.tensor(acc).std()) if draws > 1 else 0.0
    return {"accuracy": fmean(acc), "accuracy_std": spread, "accepted": fmean(accepted),
            "accepted_right": fmean(right), "identities": float(len(groups)), "draws": float(draws)}


def evaluate(net: EmbeddingNet, data: IdentitySet, pairs: IndexPairs, *, tau: float, seed: int = 0,
             pair_classifier: PairClassifier | None = None) -> dict[str, Any]:
    """Verification metrics on ``pairs`` of ``data`` at ``tau`` and one-shot identification;
    every image is embedded once. With ``pair_classifier``, its ROC AUC and accuracy (at
    probability 0.5) on the same pairs under ``"pair_classifier"``. JSON-ready."""
    from cnnkit.faces.verify import pair_distances, verification_metrics

    emb = net.embed(data.images).cpu()  # (N, d)
    distances = pair_distances(emb, pairs.i, pairs.j)
    result = verification_metrics(distances, pairs.same, tau=tau)
    if pair_classifier is not None:
        from sklearn.metrics import roc_auc_score

        with torch.no_grad():
            prob = pair_classifier.predict_proba(emb[pairs.i], emb[pairs.j])  # (M,)
        result["pair_classifier"] = {
            "auc": float(roc_auc_score(pairs.same.numpy(), prob.numpy())),
            "accuracy": float(((prob >= 0.5) == pairs.same).float().mean()),
        }
    result["one_shot"] = one_shot_identification(emb, data.identities, data.names, tau=tau, seed=seed)
    result["source"], result["images"], result["identities"] = data.source, len(data), len(data.names)
    result["distances"] = distances.tolist()
    result["same"] = pairs.same.tolist()
    return result


def check_settings_numbers(settings: FaceTrainSettings) -> None:
    """CnnkitError for a non-finite or out-of-range float setting or thread count, before any
    data is read (``--lr inf`` or ``--margin inf`` would train to NaN weights)."""
    from cnnkit.train.device import check_threads

    check_range("--lr", settings.lr, 0, strict=True)
    check_range("--margin", settings.margin, 0)
    check_range("--target-far", settings.target_far, 0, 1)
    check_range("val_fraction", settings.val_fraction, 0, 1, strict=True)
    check_threads(settings.threads)


def train_run(out: str | Path, settings: FaceTrainSettings, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train an embedder into the new run directory ``out``; returns the test evaluation
    (:func:`evaluate`) plus ``train_seconds``, ``tau_rule`` and ``warning`` (why the
    embedding or tau is unusable, :mod:`cnnkit.faces.collapse`; None when both are fine)."""
    from cnnkit.faces.embed import build_embedder
    from cnnkit.faces.fit import (
        EmbedFitConfig,
        ValidationPairs,
        check_config,
        fit_embedder,
    )
    from cnnkit.faces.collapse import RETRAIN, spread, unusable_reason
    from cnnkit.faces.pair_classifier import fit_pair_classifier
    from cnnkit.faces.run import EmbedderMetadata, save_embedder
    from cnnkit.faces.verify import choose_threshold, pair_distances
    from cnnkit.nn.build import looks_like_spec, model_entry, read_spec_text
    from cnnkit.train.device import choose_device, torch_threads

    check_settings_numbers(settings)
    from cnnkit.data.reference import absolute_reference

    settings = replace(settings, data=absolute_reference(settings.data),  # the run works from anywhere
                       test_data=absolute_reference(settings.test_data) if settings.test_data else None)
    device = choose_device(settings.device)  # an unavailable device fails before any work
    settings = spelled(settings)  # semi-hard, Batch_Hard ... -> the canonical choices
    if settings.pairs < 1 or not 0 < settings.val_fraction < 1:
        raise CnnkitError("--pairs must be at least 1 and the validation fraction between 0 and 1")
    backbone = read_spec_text(settings.backbone) if looks_like_spec(settings.backbone) else settings.backbone
    if not looks_like_spec(backbone):
        model_entry(backbone)  # an unknown zoo name fails now, not after the data is read
    fit_config = EmbedFitConfig(epochs=settings.epochs, p=settings.p, k=settings.k, lr=settings.lr,
                                loss=settings.loss, mining=settings.mining, margin=settings.margin,  # type: ignore[arg-type]
                                seed=settings.seed)
    check_config(fit_config)  # bad settings fail before the data is read
    if Path(out).exists():
        RunDir.create(out, resumable=False)  # refuses a file or a folder that already holds something
    train, val, test = load_splits(settings)
    val_pairs = ValidationPairs(val, eval_pairs(val, settings.pairs, settings.seed))
    c, h, w = train.image_shape
    # the weights are drawn from the seed, so two runs with one seed train the same network
    net = build_embedder(backbone, dim=settings.dim, in_channels=c, image_size=(h, w),
                         generator=torch.Generator().manual_seed(settings.seed))
    run = RunDir.create(out, exist_ok=True)  # only now: bad data or a trunk that does not fit leave no run behind
    log(f"data {settings.data}: {len(train)} training images of {len(train.names)} identities, {len(val)} "
        f"validation images; test {test.source}: {len(test)} images of {len(test.names)} identities ({c}x{h}x{w})")
    for note in dict.fromkeys(train.notes + test.notes):
        log(f"  note: {note}")
    run.write_config({"kind": "faces", "command": settings.command, **asdict(settings), "backbone": backbone,
                      "test_source": test.source, "fit": {k: v for k, v in asdict(fit_config).items() if k != "augment"},
                      "augment": asdict(fit_config.augment), "train_identities": list(train.names),
                      "test_identities": list(test.names),  # what `faces eval` scores by default
                      "input_shape": [c, h, w]})

    def record(rec: dict[str, float]) -> None:
        line = {k: (int(v) if k == "epoch" else round(v, 6)) for k, v in rec.items()}
        run.append_metrics(line)
        log(f"epoch {line['epoch']}/{settings.epochs}: loss {rec['loss']:.4f} ({rec['triplets']:.0f} triplets, "
            f"{100 * rec['active']:.0f}% active) val AUC {rec.get('val_auc', float('nan')):.4f}  {rec['seconds']:.1f}s")

    started = time.perf_counter()
    with torch_threads(settings.threads):
        fit_embedder(net, train, fit_config, val=val_pairs, log=record, device=device)
        train_seconds = time.perf_counter() - started
        val_emb = net.embed(val.images).cpu()  # (N, d), once: for tau and for the pair classifier
        pairs = val_pairs.pairs
        val_distances = pair_distances(val_emb, pairs.i, pairs.j)  # (M,)
        tau = choose_threshold(val_distances, pairs.same, rule=settings.tau_rule, target_far=settings.target_far)
        rule = "accuracy" if settings.tau_rule == "accuracy" else f"far@{settings.target_far:g}"
        val_spread = spread(val_distances, pairs.same)  # tiny when the embedding collapsed
        meta = EmbedderMetadata(backbone=backbone, dim=settings.dim, input_shape=(c, h, w),
                                mean=net.mean.tolist(), std=net.std.tolist(), tau=tau, tau_rule=rule,
                                identities=train.names, spread=val_spread if math.isfinite(val_spread) else None)
        save_embedder(run, net, meta)
        # the lecture's binary pair classifier, trained on those stored validation embeddings
        classifier = fit_pair_classifier(val_emb, pairs.i, pairs.j, pairs.same,
                                         generator=torch.Generator().manual_seed(settings.seed))
        result = evaluate(net, test, eval_pairs(test, settings.pairs, settings.seed + 1), tau=tau, seed=settings.seed,
                          pair_classifier=classifier)
    result["train_seconds"] = train_seconds
    result["tau_rule"] = rule
    problem = unusable_reason(tau=tau, spread=val_spread)
    warning = None
    if problem is not None:  # said now, not first by a "different" verdict on two photos of one person
        warning = f"{problem} (validation pairs); verify and identify will refuse this run; {RETRAIN}"
        result["notes"] = [*result.get("notes", []), warning]
    result["warning"] = warning
    write_outputs(run, result, title=run.path.name, command=settings.command)
    shot = result["one_shot"]
    log(f"tau {tau:.4f} (chosen for {rule} on {len(val_pairs.pairs)} validation pairs)")
    log(f"test {test.source}: ROC AUC {result['auc']:.4f}, EER {result['eer']:.3f}, accuracy at tau "
        f"{result['accuracy']:.3f}; one-shot identification {shot['accuracy']:.3f} over "
        f"{shot['identities']:.0f} identities; trained in {train_seconds:.0f}s; wrote {run.path}")
    if warning is not None:
        log(f"warning: {warning}")
    return result


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def report_text(result: dict[str, Any], *, title: str, command: str) -> str:
    """The run's report.md: verification and identification figures on the test identities."""
    shot = result["one_shot"]
    lines = [f"# Face embedding run {title}", "", f"Command: `{command}`" if command else "", "",
             f"Test identities: {result['source']} ({result['identities']} identities, {result['images']} images; "
             f"{result['same_pairs']} same and {result['different_pairs']} different pairs)", "",
             "| figure | value |", "|---|---:|",
             f"| ROC AUC | **{_fmt(result['auc'], 4)}** |",
             f"| EER | {_fmt(result['eer'])} |"]
    for row in result["tar_at_far"]:
        lines.append(f"| TAR at FAR {row['far']:g} | {_fmt(row['tar'])} |")
    lines += [f"| tau (squared L2, {result.get('tau_rule', '?')}) | {_fmt(result['tau'], 4)} |",
              f"| accuracy at tau | {_fmt(result['accuracy'])} (FAR {_fmt(result['far_at_tau'])}, "
              f"TAR {_fmt(result['tar_at_tau'])}) |",
              f"| one-shot identification (nearest of {shot['identities']:.0f}, mean of {shot['draws']:.0f} "
              f"enrolments) | **{_fmt(shot['accuracy'])}** +- {_fmt(shot['accuracy_std'])} |",
              f"| accepted at tau and right | {_fmt(shot['accepted_right'])} (accepted {_fmt(shot['accepted'])}) |"]
    if "pair_classifier" in result:
        pc = result["pair_classifier"]
        lines.append(f"| pair classifier sigmoid(sum w_k abs(f_i - f_j)_k + b), trained on stored validation "
                     f"embeddings: ROC AUC / accuracy | {_fmt(pc['auc'], 4)} / {_fmt(pc['accuracy'])} |")
    if "train_seconds" in result:
        lines.append(f"| training time | {result['train_seconds']:.0f} s |")
    lines += ["", *[f"Note: {n}" for n in result.get("notes", [])], "",
              f"Pictures: [{ROC_PNG}]({ROC_PNG}) (ROC on a log FAR axis), [{DISTANCES_PNG}]({DISTANCES_PNG}) "
              "(distances of same and different pairs, with tau).", ""]
    return "\n".join(lines)


def write_outputs(run: RunDir, result: dict[str, Any], *, title: str, command: str) -> None:
    """metrics.json (without the per-pair lists), report.md, roc.png, distances.png."""
    from cnnkit.atomic import save_figure, write_json, write_text
    from cnnkit.faces.verify_plots import distance_histogram_figure, roc_figure

    save_figure(run.file(ROC_PNG), roc_figure(result, title=f"ROC on {result['source']}"), dpi=120)
    fig = distance_histogram_figure(torch.tensor(result["distances"]), torch.tensor(result["same"]), result["tau"],
                                    title=f"distances on {result['source']}")
    save_figure(run.file(DISTANCES_PNG), fig, dpi=120)
    write_json(run.file(RESULT), {k: v for k, v in result.items() if k not in ("distances", "same")})
    write_text(run.file(REPORT), report_text(result, title=title, command=command))


def spelled(settings: FaceTrainSettings) -> FaceTrainSettings:
    """``settings`` with the loss, mining and tau rule in their canonical spelling (any case,
    - or _: cnnkit.names.pick_choice); a ConfigError naming the setting for an unknown one."""
    from cnnkit.errors import ConfigError
    from cnnkit.faces.mining import STRATEGIES
    from cnnkit.names import pick_choice

    chosen = {}
    for name, choices in (("loss", ("triplet", "contrastive")), ("mining", STRATEGIES), ("tau_rule", ("accuracy", "far"))):
        try:
            chosen[name] = pick_choice(getattr(settings, name), choices, what=name)
        except CnnkitError as err:
            raise ConfigError(str(err), parameter=name) from None
    return replace(settings, **chosen)
