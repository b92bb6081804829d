"""``cnnkit interpret fool`` and ``cnnkit interpret adversarial``: images that fool the model."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from cnnkit.cli.interpret_common import DEVICE, JSON, OUT, SEED, SOURCE, WEIGHTS

__all__ = ["register"]


def register(group: typer.Typer) -> None:
    """Add `fool` and `adversarial` to the `cnnkit interpret` group."""

    @group.command("fool")
    def fool_command(
        source: str = SOURCE,
        target: str = typer.Option(..., "--class", help="Class name or index, or 'all' for one image per class."),
        confidence: float = typer.Option(0.99, "--confidence", help="Stop once the model is this sure (0..1)."),
        steps: int = typer.Option(500, "--steps", help="Most gradient steps per image."),
        step_size: int = typer.Option(2, "--step-size", help="Pixel levels (of 255) per step."),
        bound: int = typer.Option(64, "--bound", help="How far (pixel levels) any pixel may drift from its start noise."),
        tries: int = typer.Option(4, "--tries", help="Noise starts per class; the first to reach the goal is kept."),
        seed: int = SEED,
        out: Optional[Path] = OUT,
        as_json: bool = JSON,
        weights: Optional[str] = WEIGHTS,
        device: str = DEVICE,
    ) -> None:
        """Turn random noise into an image the model assigns to a class with high confidence.

        The picture still looks like noise to a person: small steps, each pixel kept near its
        start noise, and it stops as soon as the confidence is reached.

        \b
        Examples:
          cnnkit interpret fool runs/quicknet-1 --class all
          cnnkit interpret fool runs/quicknet-1 --class Sneaker --confidence 0.999 -o sneaker.png
          cnnkit interpret fool runs/quicknet-1 --class 3 --seed 7 --json
        """
        from cnnkit.cli.interpret_common import (
            finish,
            image_stem,
            open_from_cli,
            output_path,
        )
        from cnnkit.interpret.fooling import fool, fooling_figure
        from cnnkit.interpret.plots import write

        subject = open_from_cli(source, weights, device)
        everything = target.strip().lower() == "all"
        classes = list(range(subject.num_classes)) if everything else [subject.class_index(target)]
        result = fool(subject, classes, confidence=confidence, steps=steps, step_size=step_size,
                      bound=bound, tries=tries, seed=seed)
        stem = "fool-all" if everything else f"fool-{image_stem(subject.classes[classes[0]])}"
        written = write(fooling_figure(subject, result), output_path(out, subject, stem))
        rows = [
            {"class": subject.classes[c], "index": c, "confidence": float(p), "reached": bool(ok),
             "steps": int(n), "max_change": float(d)}
            for c, p, ok, n, d in zip(result.classes, result.confidence, result.reached, result.steps, result.distance)
        ]
        reached = sum(r["reached"] for r in rows)
        lowest = min(rows, key=lambda r: r["confidence"])
        summary = (
            f"{reached}/{len(rows)} classes reached {confidence * 100:g}% "
            f"(lowest: {lowest['class']} {lowest['confidence']:.2%}); pixels moved at most "
            f"{max(r['max_change'] for r in rows):.0f}/255 from the start noise"
        )
        data = {"model": subject.name, "goal": confidence, "bound": bound, "seed": seed, "classes": rows}
        finish(written, summary, data, as_json)

    @group.command("adversarial")
    def adversarial_command(
        source: str = SOURCE,
        image: Optional[str] = typer.Argument(None, help="Image file or test:N (leave out with --eval).", show_default=False),
        eps: float = typer.Option(8.0, "--eps", help="L-infinity bound in pixel levels of 255 (8 means 8/255)."),
        method: str = typer.Option("pgd", "--method", "-m", help="fgsm (one step) or pgd (iterated, random start)."),
        steps: Optional[int] = typer.Option(None, "--steps", help="PGD steps [default: 20]."),
        step_size: Optional[float] = typer.Option(None, "--step-size", help="PGD step in pixel levels (default 2.5*eps/steps)."),
        target: Optional[str] = typer.Option(None, "--target", "-t", help="Targeted attack: push towards this class (name or index)."),
        evaluate: Optional[int] = typer.Option(None, "--eval", help="Attack the first N test images instead of IMAGE."),
        seed: int = SEED,
        out: Optional[Path] = OUT,
        as_json: bool = JSON,
        weights: Optional[str] = WEIGHTS,
        device: str = DEVICE,
    ) -> None:
        """Find a perturbation of at most EPS pixel levels that changes the model's prediction.

        The picture shows the original, the perturbation (colour scale in pixel levels) and the
        adversarial image, each with class and probability. --eval N attacks the first N test
        images of the run's dataset and prints the success rate (no picture).

        \b
        Examples:
          cnnkit interpret adversarial runs/quicknet-1 test:0 --eps 8
          cnnkit interpret adversarial runs/quicknet-1 shoe.png --eps 4 --method fgsm
          cnnkit interpret adversarial runs/quicknet-1 test:3 --eps 16 --target Bag
          cnnkit interpret adversarial runs/quicknet-1 --eval 1000 --eps 8 --method pgd
        """
        from cnnkit.cli.interpret_common import (
            finish,
            image_stem,
            open_from_cli,
            output_path,
        )
        from cnnkit.errors import CnnkitError
        from cnnkit.interpret.adversarial import METHODS, PGD_STEPS, check_pgd, eps_fraction, levels_hint
        from cnnkit.numbers import check_range

        from cnnkit.names import pick_choice

        method = pick_choice(method, METHODS, what="--method")
        eps_fraction(eps, what="--eps")
        if method != "pgd" and (steps is not None or step_size is not None):
            raise CnnkitError(f"--steps and --step-size are for --method pgd; {method} takes a single step of --eps")
        steps = PGD_STEPS if steps is None else steps
        check_pgd(steps, step_size)
        hint = levels_hint(step_size, what="--step-size") if step_size is not None else ""
        if hint:  # a step under one level can be meant (the default often is): a note, not an error
            typer.echo(f"note: --step-size {step_size:g} moves a pixel {step_size:g}/255 per step; {hint}", err=True)
        if (image is None) == (evaluate is None):
            raise CnnkitError("give an IMAGE (file or test:N) or --eval N, not both and not neither")
        if evaluate is not None:
            check_range("--eval", evaluate, 1, integer=True)
            if out is not None:
                raise CnnkitError("--eval prints a table and draws no picture; drop -o/--out, or attack one IMAGE")
        subject = open_from_cli(source, weights, device)
        if evaluate is not None:
            _evaluate(subject, evaluate, method, eps, steps, step_size, target, seed, as_json)
            return
        from cnnkit.interpret.adversarial import adversarial_figure, attack, percent
        from cnnkit.interpret.plots import write

        assert image is not None
        stored, truth = subject.read_image(image)
        pixels = subject.check_stored(stored).float() / 255.0
        _check_attackable(subject, pixels, image, truth, target)
        # Untargeted attacks push away from the true class when it is known (test:N), so
        # "fooled" always means a correct prediction was changed.
        result = attack(subject, pixels, method=method, eps=eps, target=target, steps=steps,
                        step_size=step_size, seed=seed, labels=truth if target is None else None)
        stem = f"adversarial-{method}-{image_stem(image.replace(':', '-'))}"
        written = write(adversarial_figure(subject, result, truth=truth), output_path(out, subject, stem))
        before, after = result.probs_before[0], result.probs_after[0]
        old, new = int(before.argmax()), int(after.argmax())
        change = float(result.perturbation.abs().max()) * 255
        success = bool(result.success[0])
        goal = int(result.labels[0])
        if target is None:
            verdict = "fooled" if success else "not fooled"
        else:  # the target's own probability says how close it came
            verdict = (f"target {subject.classes[goal]} {percent(float(before[goal]))} -> "
                       f"{percent(float(after[goal]))}: {'reached' if success else 'not reached'}")
        summary = (
            f"{subject.classes[old]} {float(before[old]):.1%} -> {subject.classes[new]} {float(after[new]):.1%} "
            f"({verdict}; {method} eps {eps:g}/255, largest change {change:.1f}/255)"
        )
        data = {
            "model": subject.name, "image": image, "true_class": subject.classes[truth] if truth is not None else None,
            "method": method, "eps": eps, "target": subject.classes[goal] if target is not None else None,
            "before": {"class": subject.classes[old], "probability": float(before[old])},
            "after": {"class": subject.classes[new], "probability": float(after[new]),
                      "probability_of_original": float(after[old])},
            "target_probability": ({"before": float(before[goal]), "after": float(after[goal])}
                                   if target is not None else None),
            "success": success, "max_change": change,
        }
        finish(written, summary, data, as_json)


def _check_attackable(subject: Any, pixels: Any, image: str, truth: Optional[int], target: Optional[str]) -> None:
    """CnnkitError when there is nothing to attack: a known-wrong prediction (untargeted)
    or a target the model already predicts."""
    from cnnkit.errors import CnnkitError

    predicted = int(subject.probabilities(subject.pixels_to_input(pixels.to(subject.device))).argmax(1)[0])
    if target is not None:
        wanted = subject.class_index(target)
        if wanted == predicted:
            raise CnnkitError(
                f"{image} is already predicted as {subject.classes[wanted]}; choose another --target"
            )
    elif truth is not None and truth != predicted:
        raise CnnkitError(
            f"{image} is already misclassified ({subject.classes[predicted]}, true {subject.classes[truth]}); "
            "pick a correctly classified image, or use --target CLASS"
        )


def _evaluate(subject: object, count: int, method: str, eps: float, steps: int, step_size: Optional[float],
              target: Optional[str], seed: int, as_json: bool) -> None:
    """--eval N: attack success on the first N test images, as a small table or JSON."""
    import time

    from cnnkit.cli.common import print_json
    from cnnkit.interpret.adversarial import evaluate_attack

    began = time.perf_counter()
    report = evaluate_attack(subject, count, method=method, eps=eps, target=target, steps=steps,  # type: ignore[arg-type]
                             step_size=step_size, seed=seed)
    report = {"model": subject.name, **report, "seconds": round(time.perf_counter() - began, 2)}  # type: ignore[attr-defined]
    if as_json:
        print_json(report)
        return
    aim = f"towards {report['target']}" if report["target"] else "untargeted"
    print(f"{report['model']}: {method.upper()} eps {eps:g}/255 ({aim}) on the first {report['images']} test images")
    lines = [
        ("clean accuracy", f"{report['clean_accuracy']:.1%}"),
        ("attacked (correct before)", f"{report['attacked']}"),
        ("fooled", f"{report['fooled']}"),
        ("success rate", f"{report['success_rate']:.1%}"),
        ("accuracy under attack", f"{report['adversarial_accuracy']:.1%}"),
        ("mean confidence when fooled", f"{report['mean_confidence']:.1%}"),
        ("time", f"{report['seconds']:.1f} s"),
    ]
    width = max(len(name) for name, _ in lines)
    for name, value in lines:
        print(f"  {name:<{width}}  {value}")
