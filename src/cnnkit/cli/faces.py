"""``cnnkit faces train | eval``: learn and score a face (identity) embedding; the group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cnnkit.cli.options import DEVICE, JSON, NAME, QUIET, run_out

__all__ = ["DATA_HELP", "group", "register"]

group = typer.Typer(
    help="Face verification (1:1) and recognition (1:K) with Siamese embeddings and the triplet loss.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

DATA_HELP = ("Identities: fashion-mnist:0-6 (classes as identities; also mnist, digits, cifar10), "
             "folder:PATH (one sub-folder of images per person, LFW's layout) or lfw (scikit-learn's fetcher).")


def _print_eval(result: dict[str, Any], header: str) -> None:
    def fmt(v: float | None, digits: int = 3) -> str:
        return "n/a" if v is None else f"{v:.{digits}f}"

    shot = result["one_shot"]
    rows = [("ROC AUC", fmt(result["auc"], 4)), ("EER", fmt(result["eer"]))]
    rows += [(f"TAR at FAR {row['far']:g}", fmt(row["tar"])) for row in result["tar_at_far"]]
    rows += [(f"accuracy at tau {fmt(result['tau'], 4)}", fmt(result["accuracy"])),
             ("one-shot identification", f"{fmt(shot['accuracy'])} (1 image of each of {shot['identities']:.0f} "
                                         f"identities enrolled, mean of {shot['draws']:.0f} draws)")]  # fmt: skip
    width = max(len(label) for label, _ in rows) + 2  # one column for the values, however long a label
    print(header)
    for label, value in rows:
        print(f"{label:<{width}}{value}")
    for note in result.get("notes", []):
        print(f"note: {note}")


def register(app: typer.Typer) -> None:
    from cnnkit.cli import faces_match

    _register_train_eval(group)
    faces_match.register(group)
    app.add_typer(group, name="faces")


def _register_train_eval(group: typer.Typer) -> None:
    @group.command("train")
    def train_command(
        model: str = typer.Argument("quicknet", metavar="MODEL_OR_SPEC",
                                    help="Trunk: a zoo name, spec text or spec file."),
        out: Path | None = run_out("DATA-faces"),
        name: str | None = NAME,
        data: str = typer.Option("fashion-mnist:0-6", "--data", "-d", help=DATA_HELP),
        test_data: str | None = typer.Option(None, "--test-data",
                                             help="Identities to test on [default: the other classes' test images, "
                                                  "or 20% of a folder's identities]."),
        epochs: int = typer.Option(10, "--epochs", "-e", min=1, help="Passes over the training images."),
        dim: int = typer.Option(128, "--dim", min=1, help="Embedding size d."),
        p: int = typer.Option(8, "--p", min=2, help="Identities per batch (P of P x K)."),
        k: int = typer.Option(16, "--k", min=2, help="Images per identity in a batch (K of P x K)."),
        lr: float = typer.Option(3e-3, "--lr", help="Peak one-cycle learning rate (AdamW)."),
        loss: str = typer.Option("triplet", "--loss", help="triplet or contrastive."),
        mining: str = typer.Option("semi_hard", "--mining", help="random, batch_all, batch_hard or semi_hard."),
        margin: float = typer.Option(0.2, "--margin", help="Margin alpha, in squared-distance units."),
        per_identity: int | None = typer.Option(None, "--per-identity", min=2, help="At most this many images per identity."),
        image_size: int | None = typer.Option(None, "--image-size", min=8, help="Side of the images [default: the data's]."),
        tau_rule: str = typer.Option("accuracy", "--tau-rule", help="Choose tau for best accuracy, or 'far'."),
        target_far: float = typer.Option(1e-3, "--target-far", help="FAR (0..1) for --tau-rule far."),
        pairs: int = typer.Option(3000, "--pairs", min=1, help="Same (and as many different) pairs to validate and test."),
        seed: int = typer.Option(0, "--seed", help="Seed for splits, pairs, initialization and batches."),
        threads: int = typer.Option(0, "--threads", help="CPU threads, 0 .. 4 per core [default 0: every core]."),
        device: str = DEVICE,
        quiet: bool = QUIET,
        as_json: bool = JSON,
    ) -> None:
        """Train an embedding with the triplet loss and write a run directory.

        Batches hold P identities x K images; triplets are mined inside each batch
        (semi-hard by default, as FaceNet: per pair a negative farther than the positive but
        within the margin; batch-hard, the farthest positive and closest negative per anchor,
        stalls on near-identical identities).
        tau, the squared-L2 distance below which two images are the same identity, is chosen
        on held-out images of the training identities and stored with the weights. The test
        identities were never seen in training: report.md, roc.png and distances.png show
        verification and one-shot identification on them.

        \b
        Examples:
          cnnkit faces train --name faces
          cnnkit faces train --data fashion-mnist:0-6 --epochs 20 --out runs/faces20
          cnnkit faces train --data folder:~/people --image-size 64 --out runs/people
        \b
        Output:
          epoch 10/10: loss 0.1716 (112 triplets, 86% active) val AUC 0.9954  6.9s
          test fashion-mnist:7-9: ROC AUC 0.88, EER 0.24 ...; one-shot identification 0.91 over 3 identities
        """
        import shlex
        import sys

        from cnnkit.cli.common import print_json, run_directory
        from cnnkit.faces.run_train import FaceTrainSettings, train_run

        settings = FaceTrainSettings(
            backbone=model, data=data, test_data=test_data, image_size=image_size, per_identity=per_identity,
            dim=dim, epochs=epochs, p=p, k=k, lr=lr, loss=loss, mining=mining, margin=margin, tau_rule=tau_rule,
            target_far=target_far, pairs=pairs, seed=seed, threads=threads, device=device,
            command=shlex.join(["cnnkit", *sys.argv[1:]]),
        )
        target = run_directory(out, name, stem=f"{data}-faces")
        silent = quiet or as_json
        result = train_run(target, settings, log=lambda line: None if silent else print(line, flush=True))
        if as_json:
            print_json({"run": str(target), **{k: v for k, v in result.items() if k not in ("distances", "same")}})
        elif quiet:
            print(f"{target}: ROC AUC {result['auc']:.4f}, one-shot identification {result['one_shot']['accuracy']:.3f}")
            if result.get("warning"):  # a collapsed embedding is part of the result, not a progress note
                print(f"warning: {result['warning']}", file=sys.stderr)

    @group.command("eval")
    def eval_command(
        run: Path = typer.Argument(..., metavar="RUN", help="A run directory from `cnnkit faces train`."),
        data: str | None = typer.Option(None, "--data", "-d", help=DATA_HELP + " [default: the run's test identities]"),
        pairs_file: Path | None = typer.Option(None, "--pairs-file",
                                               help="Pairs in LFW's pairs.txt format (with --data folder:PATH)."),
        pairs: int = typer.Option(3000, "--pairs", min=1, help="Random same (and different) pairs without --pairs-file."),
        seed: int = typer.Option(0, "--seed", help="Seed for random pairs and enrolments."),
        include_trained: bool = typer.Option(False, "--include-trained",
                                             help="Score identities the run was trained on too (optimistic; "
                                                  "by default they are left out)."),
        as_json: bool = typer.Option(False, "--json", help="Print the whole result (ROC points included) as JSON."),
        device: str = DEVICE,
    ) -> None:
        """Score a face run: ROC AUC, EER, TAR at FAR, accuracy at the run's tau, one-shot identification.

        Only identities the run never trained on are scored: by default its own test
        identities; with --data, every identity of that data except the training ones (left
        out with a note; a --pairs-file that uses them is refused), unless --include-trained.

        \b
        Examples:
          cnnkit faces eval runs/faces
          cnnkit faces eval runs/people --data folder:~/lfw --pairs-file ~/lfw/pairs.txt
        \b
        Output:
          runs/faces: fashion-mnist:7-9 (3 identities, none trained on), 3000 same and 3000 different pairs
          ROC AUC                  0.7837
          ...
        """
        from cnnkit.cli.common import print_json
        from cnnkit.faces.run_eval import eval_run

        result = eval_run(run, data=data, pairs_file=pairs_file, pairs=pairs, seed=seed,
                          include_trained=include_trained, device=device)
        if as_json:
            print_json(result)
        else:
            seen = result["trained_identities"]
            which = f"{seen} of them TRAINED ON: optimistic" if seen else "none trained on"
            _print_eval(result, f"{run}: {result['data']} ({result['identities']} identities, {which}), "
                                f"{result['same_pairs']} same and {result['different_pairs']} different pairs")
