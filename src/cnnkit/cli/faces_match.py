"""``cnnkit faces verify | enroll | identify``: 1:1 verification and 1:K recognition with a face run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from cnnkit.cli.options import DEVICE, JSON

__all__ = ["register"]


def _embed_files(loaded: Any, paths: list[Path]) -> tuple[list[tuple[Path, Any]], list[tuple[Path, str]]]:
    """([(path, embedding (d,))], [(path, error)]): each image read at the run's input shape."""
    from cnnkit.data.images import load_image
    from cnnkit.errors import DataError

    good, bad = [], []
    for path in paths:
        try:
            image = load_image(path, input_shape=loaded.metadata.input_shape)  # uint8 (C, H, W)
        except DataError as err:
            bad.append((path, str(err).removeprefix(f"{path}: ")))
            continue
        good.append((path, loaded.net.embed(image.unsqueeze(0))[0].cpu()))
    return good, bad


def _check_tau(tau: float | None) -> None:
    """CnnkitError unless ``tau`` is None (the run's) or a finite distance >= 0."""
    from cnnkit.numbers import check_range

    if tau is not None:
        check_range("--tau", tau, 0)


def register(group: typer.Typer) -> None:
    """Add ``verify``, ``enroll`` and ``identify`` to the ``cnnkit faces`` group."""

    @group.command("verify")
    def verify_command(
        run: Path = typer.Argument(..., metavar="RUN", help="A run directory from `cnnkit faces train`."),
        first: Path = typer.Argument(..., metavar="A", help="An image file."),
        second: Path = typer.Argument(..., metavar="B", help="Another image file."),
        tau: float | None = typer.Option(None, "--tau", help="Threshold, >= 0 [default: the run's]."),
        as_json: bool = typer.Option(False, "--json", help="Print {a, b, distance, tau, same} as JSON."),
        device: str = DEVICE,
    ) -> None:
        """1:1 verification: are A and B the same identity? Same when d = ||f(A) - f(B)||^2 <= tau.

        A run whose embedding collapsed, or whose tau is below 1e-4 (without --tau), is refused.

        \b
        Examples:
          cnnkit faces verify runs/faces sneaker1.png sneaker2.png
          cnnkit faces verify runs/faces a.png b.png --tau 0.5 --json
        \b
        Output:
          sneaker1.png vs sneaker2.png: d = 0.01683 <= tau 1.439: same identity
        """
        from cnnkit.cli.common import print_json
        from cnnkit.errors import DataError
        from cnnkit.faces.run import load_embedder
        from cnnkit.train.device import choose_device

        _check_tau(tau)
        loaded = load_embedder(run, device=choose_device(device))
        loaded.check_usable(tau_given=tau is not None)  # a collapsed run calls one person "different"
        good, bad = _embed_files(loaded, [first, second])
        if bad:
            path, error = bad[0]
            raise DataError(f"{path}: {error}")
        threshold = loaded.tau if tau is None else tau
        distance = float((good[0][1] - good[1][1]).pow(2).sum())
        same = distance <= threshold
        if as_json:
            print_json({"a": str(first), "b": str(second), "distance": distance, "tau": threshold, "same": same})
        else:
            verdict = f"<= tau {threshold:.4g}: same identity" if same else f"> tau {threshold:.4g}: different identities"
            print(f"{first} vs {second}: d = {distance:.4g} {verdict}")

    @group.command("enroll")
    def enroll_command(
        run: Path = typer.Argument(..., metavar="RUN", help="A run directory from `cnnkit faces train`."),
        gallery: Path = typer.Option(..., "--gallery", "-g", help="Folder with one sub-folder of images per identity."),
        out: Path = typer.Option(..., "--out", "-o", help="Gallery file to write, e.g. gallery.json."),
        tau: float | None = typer.Option(None, "--tau", help="Threshold (>= 0) stored in the gallery [default: the run's]."),
        as_json: bool = typer.Option(False, "--json", help="Print {gallery, identities, images, tau, trained_identities} "
                                                             "as JSON."),
        device: str = DEVICE,
    ) -> None:
        """Enroll K identities (one or a few images each) into a gallery file for `identify`.

        The gallery holds the embeddings, tau and the model's fingerprint: a gallery is
        only used with the run that enrolled it.

        \b
        Examples:
          cnnkit faces enroll runs/faces --gallery people/ -o gallery.json
        \b
        Output:
          enrolled 3 identities from 3 images of people -> gallery.json (tau 1.439)
        """
        from cnnkit.cli.common import print_json
        from cnnkit.faces.gallery import check_gallery_path, enroll, save_gallery
        from cnnkit.faces.held_out import listed_names
        from cnnkit.faces.identity_folder import load_identity_folder
        from cnnkit.faces.run import load_embedder
        from cnnkit.train.device import choose_device

        _check_tau(tau)
        check_gallery_path(out)  # before any work: -o photo.png would be overwritten with JSON
        loaded = load_embedder(run, device=choose_device(device))
        loaded.check_usable(tau_given=tau is not None)
        people = load_identity_folder(gallery, input_shape=loaded.metadata.input_shape)
        emb = loaded.net.embed(people.images).cpu()
        book = enroll(emb, people.identities, people.names, tau=loaded.tau if tau is None else tau,
                      model_fingerprint=loaded.fingerprint, sources=people.paths)
        save_gallery(book, out)
        seen = [name for name in people.names if name in set(loaded.metadata.identities)]
        if as_json:
            print_json({"gallery": str(out), "identities": list(people.names), "images": len(people),
                        "tau": book.tau, "trained_identities": seen})
            return
        print(f"enrolled {len(people.names)} identities from {len(people)} images of {gallery} -> {out} "
              f"(tau {book.tau:.4g})")
        if seen:  # recognising them says little about new faces
            were = "was" if len(seen) == 1 else "were"
            print(f"note: {len(seen)} of the enrolled identities ({listed_names(seen)}) {were} among the run's "
                  "training identities: identifying them is easier than identifying people never seen")

    @group.command("identify")
    def identify_command(
        run: Path = typer.Argument(..., metavar="RUN", help="A run directory from `cnnkit faces train`."),
        images: list[Path] = typer.Argument(..., metavar="IMAGE...", help="Image files to identify."),
        gallery: Path = typer.Option(..., "--gallery", "-g", help="A gallery file from `cnnkit faces enroll`."),
        as_json: bool = typer.Option(False, "--json", help="Print [{file, identity, distance, nearest} | {file, error}]."),
        device: str = DEVICE,
    ) -> None:
        """1:K recognition: the enrolled identity nearest to each image, or "unknown" when
        no enrolled image is within tau. Exit status 1 when any file could not be read.

        \b
        Examples:
          cnnkit faces identify runs/faces --gallery gallery.json bag1.png trouser1.png
        \b
        Output:
          bag1.png: Bag (d = 0.1311)
          trouser1.png: unknown (nearest Ankle_boot, d = 2.691 > tau 1.439)
        """
        from cnnkit.cli.common import print_json
        from cnnkit.faces.gallery import identify, load_gallery
        from cnnkit.faces.run import load_embedder
        from cnnkit.train.device import choose_device

        loaded = load_embedder(run, device=choose_device(device))
        book = load_gallery(gallery, expected_fingerprint=loaded.fingerprint, expected_dim=loaded.metadata.dim)
        loaded.check_usable(tau=book.tau, tau_advice="enroll again with --tau T")
        good, bad = _embed_files(loaded, images)
        import torch

        matches = identify(book, torch.stack([e for _, e in good])) if good else []
        rows: list[dict[str, Any]] = []
        for (path, _), match in zip(good, matches):
            rows.append({"file": str(path), "identity": match.name, "distance": match.distance,
                         "nearest": match.nearest})
        rows += [{"file": str(path), "error": error} for path, error in bad]
        if as_json:
            print_json(rows)
        else:
            for (path, _), m in zip(good, matches):
                if m.known:
                    print(f"{path}: {m.name} (d = {m.distance:.4g})")
                else:
                    print(f"{path}: unknown (nearest {m.nearest}, d = {m.distance:.4g} > tau {book.tau:.4g})")
            for path, error in bad:
                print(f"{path}: error: {error}", file=sys.stderr)
        if bad:
            raise typer.Exit(1)
