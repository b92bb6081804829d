"""FGSM and PGD against explicit formulas and a hand-written loop; bounds, targets, errors, CLI."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnkit.data.tensordata import DatasetInfo
from cnnkit.errors import CnnkitError
from cnnkit.interpret.adversarial import attack, attack_loss, evaluate_attack, fgsm, percent, pgd
from cnnkit.interpret.subject import Subject, subject_from_model

INFO = DatasetInfo("tiny", "image", (1, 8, 8), ("a", "b", "c"), (0.3,), (0.4,))


def tiny_subject(seed: int = 0) -> Subject:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3))
    return subject_from_model(model, INFO, name="tiny")


def images(n: int = 4, seed: int = 1) -> torch.Tensor:
    return torch.rand((n, 1, 8, 8), generator=torch.Generator().manual_seed(seed))


def reference_loss_grad(subject: Subject, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss per image and its pixel gradient, written out with the normalization by hand."""
    x = x.clone().requires_grad_(True)
    logits = subject.model((x - 0.3) / 0.4)
    loss = F.cross_entropy(logits, y, reduction="none")
    loss.sum().backward()
    return loss.detach(), x.grad


def test_fgsm_equals_the_formula_and_raises_the_loss() -> None:
    subject, x = tiny_subject(), images()
    y = torch.tensor([0, 1, 2, 0])
    loss, grad = reference_loss_grad(subject, x, y)
    expected = (x + 8 / 255 * grad.sign()).clamp(0, 1)
    adv = fgsm(subject, x, y, eps=8)
    torch.testing.assert_close(adv, expected, rtol=0, atol=1e-7)
    after = attack_loss(subject.model(subject.pixels_to_input(adv)), y)
    assert (after > loss).all()


def test_targeted_fgsm_steps_against_the_gradient_and_lowers_the_target_loss() -> None:
    subject, x = tiny_subject(), images()
    goal = torch.tensor([2, 2, 2, 2])
    loss, grad = reference_loss_grad(subject, x, goal)
    adv = fgsm(subject, x, goal, eps=4, targeted=True)
    torch.testing.assert_close(adv, (x - 4 / 255 * grad.sign()).clamp(0, 1), rtol=0, atol=1e-7)
    assert (attack_loss(subject.model(subject.pixels_to_input(adv)), goal) < loss).all()


def hand_pgd(subject: Subject, x: torch.Tensor, y: torch.Tensor, eps: float, step: float, steps: int,
             start: torch.Tensor) -> torch.Tensor:
    """Textbook PGD (last iterate) from a given start, for comparison."""
    current = start.clone()
    for _ in range(steps):
        _, grad = reference_loss_grad(subject, current, y)
        current = current + step * grad.sign()
        current = torch.min(torch.max(current, x - eps), x + eps).clamp(0, 1)
    return current


def test_pgd_without_random_start_matches_a_hand_written_loop_when_the_loss_keeps_rising() -> None:
    subject, x = tiny_subject(), images()
    y = torch.tensor([0, 1, 2, 0])
    ours = pgd(subject, x, y, eps=6, steps=3, step_size=1, random_start=False)
    theirs = hand_pgd(subject, x, y, 6 / 255, 1 / 255, 3, x)
    # ours keeps each image's worst iterate; with small steps on this model that is the last one
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def test_pgd_respects_the_bound_and_the_box_and_beats_fgsm() -> None:
    subject, x = tiny_subject(), images(8)
    x[0] = 0.0  # a black image: the box, not the ball, binds
    x[1] = 1.0
    y = subject.probabilities(subject.pixels_to_input(x)).argmax(1)
    adv = pgd(subject, x, y, eps=10, steps=10, step_size=10, generator=torch.Generator().manual_seed(0))
    assert float((adv - x).abs().max()) <= 10 / 255 + 1e-6
    assert float(adv.min()) >= 0 and float(adv.max()) <= 1
    loss_pgd = attack_loss(subject.model(subject.pixels_to_input(adv)), y)
    loss_fgsm = attack_loss(subject.model(subject.pixels_to_input(fgsm(subject, x, y, eps=10))), y)
    assert (loss_pgd >= loss_fgsm - 1e-5).all()


def test_pgd_never_returns_worse_than_its_fgsm_sized_first_step() -> None:
    # without random start the first step of size eps IS FGSM; the worst iterate is kept
    subject, x = tiny_subject(3), images(6, seed=5)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    adv = pgd(subject, x, y, eps=12, steps=5, step_size=12, random_start=False)
    loss_pgd = attack_loss(subject.model(subject.pixels_to_input(adv)), y)
    loss_fgsm = attack_loss(subject.model(subject.pixels_to_input(fgsm(subject, x, y, eps=12))), y)
    assert (loss_pgd >= loss_fgsm - 1e-6).all()


def test_targeted_pgd_lowers_the_target_loss_and_is_seeded() -> None:
    subject, x = tiny_subject(), images()
    goal = torch.full((4,), 1)
    before = attack_loss(subject.model(subject.pixels_to_input(x)), goal)
    runs = [pgd(subject, x, goal, eps=8, targeted=True, generator=torch.Generator().manual_seed(s)) for s in (7, 7, 8)]
    after = attack_loss(subject.model(subject.pixels_to_input(runs[0])), goal)
    assert (after < before).all()
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_attack_result_reports_success_and_probabilities() -> None:
    subject, x = tiny_subject(), images()
    result = attack(subject, x, method="pgd", eps=255, steps=10, seed=0)
    predicted = result.probs_before.argmax(1)
    assert torch.equal(result.labels, predicted)
    assert torch.equal(result.success, result.probs_after.argmax(1) != predicted)
    assert bool(result.success.all())  # the whole box is allowed: any class is reachable here
    torch.testing.assert_close(result.probs_after.sum(1), torch.ones(4))


@pytest.mark.parametrize("spelling", ["PGD", "Pgd"])
def test_the_method_in_any_spelling_is_the_same_attack(spelling: str) -> None:
    subject, x = tiny_subject(), images()
    same = attack(subject, x, method=spelling, eps=8, steps=3, seed=1)
    plain = attack(subject, x, method="pgd", eps=8, steps=3, seed=1)
    assert torch.equal(same.adversarial, plain.adversarial)
    with pytest.raises(CnnkitError, match=r"attack method 'pdg' is not known \(did you mean 'pgd'\?\)"):
        attack(subject, x, method="pdg", eps=8)


@pytest.mark.parametrize("eps", [-1, 256, float("nan")])
def test_bad_eps_is_a_clear_error(eps: float) -> None:
    with pytest.raises(CnnkitError, match="between 0 and 255"):
        fgsm(tiny_subject(), images(), 0, eps=eps)


@pytest.mark.parametrize("eps", [0.03, 8 / 255, 0.5])
def test_eps_below_one_level_is_refused_naming_the_levels(eps: float) -> None:
    # the papers write eps as a fraction of the range; here it is levels of 255 (round(eps*255))
    levels = round(eps * 255)
    with pytest.raises(CnnkitError, match=rf"eps is in pixel levels out of 255; did you mean eps={levels}\?"):
        fgsm(tiny_subject(), images(), 0, eps=eps)
    with pytest.raises(CnnkitError, match=rf"did you mean eps={levels}\?"):
        attack(tiny_subject(), images(), method="pgd", eps=eps)
    assert torch.equal(fgsm(tiny_subject(), images(), 0, eps=0), images())  # 0 stays a valid no-op


def test_pgd_steps_under_one_level_stay_allowed() -> None:
    # a fractional step (the default 2.5*eps/steps often is one) is the hand loop's step/255
    subject, x = tiny_subject(), images()
    y = torch.tensor([0, 1, 2, 0])
    ours = pgd(subject, x, y, eps=2, steps=3, step_size=0.5, random_start=False)
    # as above: with small steps the worst iterate is the last one
    torch.testing.assert_close(ours, hand_pgd(subject, x, y, 2 / 255, 0.5 / 255, 3, x), rtol=0, atol=1e-6)


def test_bad_class_and_bad_image_are_clear_errors() -> None:
    subject = tiny_subject()
    with pytest.raises(CnnkitError, match="out of range"):
        attack(subject, images(), target=3)
    with pytest.raises(CnnkitError, match="out of range"):
        pgd(subject, images(), torch.tensor([0, 1, 5, 0]), eps=4)
    with pytest.raises(CnnkitError, match="1x8x8"):
        fgsm(subject, torch.rand(1, 3, 8, 8), 0, eps=4)
    with pytest.raises(CnnkitError, match=r"\[0, 1\]"):
        fgsm(subject, images() * 255, 0, eps=4)
    with pytest.raises(CnnkitError, match="attack method .cw. is not known; choose one of: fgsm, pgd"):
        attack(subject, images(), method="cw")


def test_evaluation_on_the_digits_run_counts_consistently(digits_subject: Subject) -> None:
    weak = evaluate_attack(digits_subject, 40, method="fgsm", eps=2)
    strong = evaluate_attack(digits_subject, 40, method="pgd", eps=64, steps=5)
    for report in (weak, strong):
        assert report["images"] == 40
        assert report["attacked"] == round(report["clean_accuracy"] * 40)
        assert 0 <= report["fooled"] <= report["attacked"]
    assert strong["success_rate"] > weak["success_rate"]
    assert strong["success_rate"] > 0.9
    assert strong["adversarial_accuracy"] == pytest.approx((strong["attacked"] - strong["fooled"]) / 40)


def test_cli_writes_a_picture_and_json(digits_run, tmp_path) -> None:
    from typer.testing import CliRunner

    from cnnkit.cli.app import app

    out = tmp_path / "adv.png"
    runner = CliRunner()
    result = runner.invoke(app, ["interpret", "adversarial", str(digits_run), "test:0", "--eps", "32",
                                 "--steps", "5", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert out.stat().st_size > 0 and data["pictures"] == [str(out)]
    assert data["max_change"] <= 32 + 1e-3 and 0 <= data["after"]["probability"] <= 1
    result = runner.invoke(app, ["interpret", "adversarial", str(digits_run), "--eval", "20", "--method", "fgsm",
                                 "--eps", "16", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["images"] == 20
    bad = runner.invoke(app, ["interpret", "adversarial", str(digits_run), "test:0", "--eps", "300"])
    assert bad.exit_code != 0 and "between 0 and 255" in str(bad.exception or bad.output)


def test_cli_eps_below_one_level_is_one_error_line(digits_run, cli_error) -> None:  # type: ignore[no-untyped-def]
    line = cli_error(["interpret", "adversarial", digits_run, "test:0", "--eps", "0.03"])
    assert line == ("error: --eps 0.03 is less than one pixel level: eps is in pixel levels out of 255; "
                    f"did you mean --eps {round(0.03 * 255)}?")  # fmt: skip


def test_cli_step_size_below_one_level_gets_a_note(digits_run, run_cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli(["interpret", "adversarial", digits_run, "test:0", "--eps", "8", "--steps", "1",
                              "--step-size", "0.01", "-o", tmp_path / "a.png"])  # fmt: skip
    assert code == 0, err
    assert f"step-size is in pixel levels out of 255; did you mean --step-size {round(0.01 * 255)}?" in err
    assert "note: --step-size 0.01" in err and "wrote" in out


def test_cli_targeted_attack_reports_the_targets_probability(digits_run, digits_subject, run_cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cnnkit.interpret.adversarial import percent

    stored, _ = digits_subject.read_image("test:0")
    pixels = digits_subject.check_stored(stored).float() / 255
    with torch.no_grad():  # the reference: the model's own softmax on the clean image
        clean = digits_subject.probabilities(digits_subject.pixels_to_input(pixels))[0]
    goal = int(clean.argmin())  # the least likely class, far from reached before the attack
    name = digits_subject.classes[goal]
    args = ["interpret", "adversarial", digits_run, "test:0", "--target", str(goal), "--eps", "32", "--steps", "5"]
    code, out, err = run_cli([*args, "--json", "-o", tmp_path / "a.png"])
    assert code == 0, err
    data = json.loads(out)
    assert data["target"] == name
    assert data["target_probability"]["before"] == pytest.approx(float(clean[goal]), abs=1e-6)
    reached = data["after"]["class"] == name
    assert data["success"] == reached
    if reached:
        assert data["target_probability"]["after"] == pytest.approx(data["after"]["probability"])
    else:
        assert data["target_probability"]["after"] < data["after"]["probability"]
    code, out, err = run_cli([*args, "-o", tmp_path / "b.png"])
    assert code == 0, err
    verdict = "reached" if reached else "not reached"
    assert (f"(target {name} {percent(float(clean[goal]))} -> "
            f"{percent(data['target_probability']['after'])}: {verdict}; pgd eps 32/255") in out  # fmt: skip


def test_percent_never_rounds_a_small_probability_to_zero() -> None:
    assert [percent(p) for p in (0.0, 0.0001, 0.0005, 0.1234, 1.0)] == ["0.0%", "<0.1%", "0.1%", "12.3%", "100.0%"]
