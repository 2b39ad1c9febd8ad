"""``symcl crystal simulate | train | embed`` end to end, and their one-line user errors."""

import csv
import json

import numpy as np
import pytest
import torch

from symcl.cli import main
from symcl.domains import crystal
from symcl.errors import UserInputError

TINY = ["--patch-size", "40", "--pixel-size", "0.3", "--dim", "8", "--channels", "4", "--batch-size", "16"]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("crystal_sim")
    code = main(["crystal", "simulate", "--material", "MoS2", "--size", "128", "128", "--pixel-size", "0.2",
                 "--defects", "3", "--seed", "4", "-o", str(out)])  # fmt: skip
    assert code == 0
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("crystal_model")
    code = main(["crystal", "train", "--out", str(out), "--steps", "3", "--eval-every", "0", "--checkpoint-every", "2",
                 "--quiet", "--materials", "MoS2", "SrTiO3", "--dose", "1e4", "1e7", "--dose-exclude", "3e4", "8e4",
                 "--jitter-exclude", "0.12", "0.18", *TINY])  # fmt: skip
    assert code == 0
    return out


def test_simulate_writes_image_and_ground_truth(simulated):
    names = {p.name for p in simulated.iterdir()}
    assert {"image.npy", "image.png", "ground_truth.csv", "columns.csv", "simulation.json"} <= names
    image = np.load(simulated / "image.npy")
    assert image.shape == (128, 128) and image.dtype == np.float32
    with open(simulated / "ground_truth.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 and all(r["kind"] in crystal.DEFECT_KINDS for r in rows)
    meta = json.loads((simulated / "simulation.json").read_text())
    assert meta["material"] == "MoS2" and meta["pixel_size_angstrom"] == 0.2
    assert meta["seed"] == 4  # with the settings above, what reproduces this image and its ground truth


def test_train_writes_a_loadable_model(trained):
    assert {"model.safetensors", "config.json", "history.json", "checkpoints"} <= {p.name for p in trained.iterdir()}
    config = crystal.read_model_config(trained)
    assert config["model"] == {"kind": "patch_cnn", "dim": 8, "channels": 4, "patch_size": 40, "pixel_size": 0.3}
    assert config["crystal"]["views"]["materials"] == ["MoS2", "SrTiO3"]
    assert config["crystal"]["views"]["dose"] == [1e4, 1e7]
    assert config["crystal"]["views"]["dose_exclude"] == [[3e4, 8e4]]
    assert config["crystal"]["views"]["jitter_exclude"] == [[0.12, 0.18]]
    model = crystal.load_model(trained)
    assert model(torch.rand(2, 1, 40, 40)).shape == (2, 8)


def test_embed_writes_sites_embeddings_and_overlay(simulated, trained, tmp_path, capsys):
    out = tmp_path / "emb"
    code = main(["crystal", "embed", str(simulated / "image.npy"), "--pixel-size", "0.2", "--model", str(trained),
                 "--spacing", "1.824", "-o", str(out)])  # fmt: skip
    assert code == 0
    assert "sites in" in capsys.readouterr().err
    with open(out / "sites.csv") as handle:
        rows = list(csv.DictReader(handle))
    with np.load(out / "embeddings.npz") as saved:
        z, positions = saved["embeddings"], saved["positions"]
        assert z.shape == (len(rows), 8) and np.isfinite(z).all()
        np.testing.assert_allclose(positions[:, 0], [float(r["x_px"]) for r in rows], atol=1e-3)
        assert saved["anomaly"].shape == (len(rows),) and float(saved["pixel_size"]) == 0.2
    assert len(rows) > 150  # a 25.6 Å MoS2 field of view holds about 152 columns, plus maxima on the edges
    assert {"site", "x_px", "y_px", "x_angstrom", "y_angstrom", "intensity", "cluster", "anomaly", "edge"} == set(
        rows[0]
    )
    assert (out / "overlay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _one_line_error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("symcl: error: ")
    return err[0]


def test_embed_without_model_uses_the_pretrained_one(simulated, tmp_path, capsys):
    out = tmp_path / "default"
    code = main(["crystal", "embed", str(simulated / "image.npy"), "--pixel-size", "0.2", "--spacing", "1.824",
                 "-o", str(out)])  # fmt: skip
    assert code == 0 and "sites in" in capsys.readouterr().err
    dim = crystal.load_pretrained().config["dim"]
    with np.load(out / "embeddings.npz") as saved:
        z = saved["embeddings"]
        assert z.ndim == 2 and z.shape[1] == dim and len(z) > 150 and np.isfinite(z).all()


def test_user_errors_are_one_line_and_exit_2(simulated, trained, tmp_path, capsys):
    image = str(simulated / "image.npy")
    for value in ("-1", "0"):  # refused while parsing: exit 2, the flag named
        with pytest.raises(SystemExit) as exit_info:
            main(["crystal", "embed", image, "--pixel-size", value, "--model", str(trained), "-o", str(tmp_path)])
        assert exit_info.value.code == 2
        assert f"argument --pixel-size: must be a finite number > 0, got {value}" in capsys.readouterr().err
    message = _one_line_error(
        capsys,
        [
            "crystal",
            "embed",
            image,
            "--pixel-size",
            "0.2",
            "--spacing",
            "100",
            "--model",
            str(trained),
            "-o",
            str(tmp_path),
        ],
    )
    assert "at least two columns must fit across it" in message
    empty = tmp_path / "empty.npy"
    empty.touch()
    message = _one_line_error(
        capsys, ["crystal", "embed", str(empty), "--pixel-size", "0.2", "--model", str(trained), "-o", str(tmp_path)]
    )
    assert "empty.npy: not a readable .npy array" in message
    with pytest.raises(SystemExit) as exit_info:
        main(["crystal", "simulate", "--material", "WS2", "--structure", "x.cif", "-o", str(tmp_path / "s")])
    assert exit_info.value.code == 2
    assert "argument --structure: not allowed with argument --material" in capsys.readouterr().err
    message = _one_line_error(capsys, ["crystal", "simulate", "--size", "100000", "100000", "-o", str(tmp_path / "g")])
    assert "--size 100000 100000: at most 67,108,864 pixels" in message
    message = _one_line_error(capsys, ["crystal", "simulate", "--pixel-size", "100", "-o", str(tmp_path / "g")])
    assert "100 Å/px: the nearest columns of MoS2 are 1.82 Å apart, so at most 0.912 Å/px resolves them" in message
    message = _one_line_error(capsys, ["crystal", "train", "--pixel-size", "100", "--out", str(tmp_path / "t")])
    assert "the nearest columns of MoS2 are 1.82 Å apart" in message  # before views of millions of columns
    argv = ["crystal", "simulate", "--size", "8000", "8000", "--pixel-size", "0.9", "-o", str(tmp_path / "g")]
    message = _one_line_error(capsys, argv)
    assert "at 0.9 Å/px show about" in message and "use a smaller pixel size or image" in message
    message = _one_line_error(capsys, ["crystal", "simulate", "--gamma", "100", "-o", str(tmp_path / "g")])
    assert "The 'gamma' parameter of Imaging must be <= 3" in message
    bad = tmp_path / "nan.npy"
    array = np.load(image)
    array[3, 4] = np.nan
    np.save(bad, array)
    message = _one_line_error(
        capsys, ["crystal", "embed", str(bad), "--pixel-size", "0.2", "--model", str(trained), "-o", str(tmp_path)]
    )
    assert "nan.npy: 1 NaN or infinite pixel(s), the first at row 3, column 4" in message
    message = _one_line_error(
        capsys,
        [
            "crystal",
            "embed",
            str(tmp_path / "none.tif"),
            "--pixel-size",
            "0.2",
            "--model",
            str(trained),
            "-o",
            str(tmp_path),
        ],
    )
    assert "none.tif: no such image file" in message
    message = _one_line_error(capsys, ["crystal", "embed", image, "--model", str(trained), "-o", str(tmp_path)])
    assert "--pixel-size" in message
    message = _one_line_error(
        capsys,
        ["crystal", "embed", image, "--pixel-size", "0.2", "--model", str(tmp_path / "nomodel"), "-o", str(tmp_path)],
    )
    assert "not a model directory" in message
    message = _one_line_error(capsys, ["crystal", "simulate", "--material", "Kryptonite", "-o", str(tmp_path / "s")])
    assert "Unknown material 'Kryptonite'" in message
    with pytest.raises(SystemExit) as exit_info:
        main(["crystal", "simulate", "--pixel-size", "0", "-o", str(tmp_path / "s")])
    assert exit_info.value.code == 2
    assert "argument --pixel-size: must be a finite number > 0, got 0" in capsys.readouterr().err
    message = _one_line_error(
        capsys,
        ["crystal", "train", "--out", str(tmp_path / "t"), "--patch-size", "32", "--pixel-size", "0.3", "--quiet"],
    )
    assert "must cover at least 12 Å" in message


def test_train_on_one_single_element_crystal_with_the_kinds_it_has(tmp_path, capsys):
    out = tmp_path / "graphene"
    common = ["crystal", "train", "--out", str(out), "--steps", "2", "--batch-size", "8", "--materials", "graphene"]
    message = _one_line_error(capsys, [*common, "--quiet"])
    assert "has a visible defect of kind(s) ['antisite']; drop them from 'kinds' (--kinds)" in message
    assert main([*common, "--kinds", "pristine", "vacancy", "--eval-every", "0", "--quiet"]) == 0
    views = json.loads((out / "config.json").read_text())["crystal"]["views"]
    assert views["materials"] == ["graphene"] and views["kinds"] == ["pristine", "vacancy"]


def test_an_implausible_column_spacing_warns_about_the_pixel_size(simulated, trained, tmp_path, capsys):
    image = str(simulated / "image.npy")
    argv = ["crystal", "embed", image, "--model", str(trained), "-o", str(tmp_path / "e")]
    assert main([*argv, "--pixel-size", "2.0"]) == 0  # ten times the simulated 0.2 Å/px
    assert "outside the usual 1-8 Å; check --pixel-size" in capsys.readouterr().err
    assert main([*argv, "--pixel-size", "0.2"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_embed_warns_in_one_line_that_a_multi_page_tiff_is_read_from_page_1(simulated, trained, tmp_path, capsys):
    import tifffile

    image = np.load(simulated / "image.npy")
    tifffile.imwrite(tmp_path / "stack.tif", np.stack([image, image]), photometric="minisblack")
    argv = ["crystal", "embed", str(tmp_path / "stack.tif"), "--pixel-size", "0.2", "--spacing", "1.824"]
    assert main([*argv, "--model", str(trained), "--quiet", "-o", str(tmp_path / "e")]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warnings == [f"symcl: warning: {tmp_path / 'stack.tif'}: the TIFF has 2 pages; page 1 is analysed"]


def test_embed_takes_the_pixel_size_of_a_calibrated_tiff_unless_given(simulated, trained, tmp_path, capsys):
    import tifffile

    image = np.load(simulated / "image.npy")  # 0.2 Å/px
    path = tmp_path / "nm.tif"
    tifffile.imwrite(path, image, imagej=True, resolution=(50.0, 50.0), metadata={"unit": "nm"})  # 0.02 nm/px
    argv = ["crystal", "embed", str(path), "--model", str(trained), "--quiet", "--spacing", "1.824"]
    assert main([*argv, "-o", str(tmp_path / "recorded")]) == 0
    assert float(np.load(tmp_path / "recorded" / "embeddings.npz")["pixel_size"]) == pytest.approx(0.2)
    assert main([*argv, "--pixel-size", "0.25", "-o", str(tmp_path / "given")]) == 0  # --pixel-size wins
    assert float(np.load(tmp_path / "given" / "embeddings.npz")["pixel_size"]) == 0.25


def test_embed_says_which_files_carry_a_calibration_it_reads(simulated, trained, tmp_path, capsys):
    import tifffile

    tifffile.imwrite(tmp_path / "plain.tif", np.load(simulated / "image.npy"))
    argv = ["crystal", "embed", str(tmp_path / "plain.tif"), "--model", str(trained), "-o", str(tmp_path / "e")]
    message = _one_line_error(capsys, argv)
    assert f"{tmp_path / 'plain.tif'}: the file records no pixel size; pass --pixel-size in Å/px" in message
    assert "DM3/DM4/EMD files (with rosettasciio) and TIFF files with an ImageJ length unit" in message


def test_embed_refuses_an_image_over_the_pixel_limit_before_finding_sites(monkeypatch, tmp_path, capsys):
    from symcl.domains.crystal import analysis

    def never(*args, **kwargs):
        raise AssertionError("find_sites ran before the size check")

    # The limit scaled down, so that a small image stands for an 8,500 x 8,500 px frame at the right pixel size.
    monkeypatch.setattr(analysis, "MAX_IMAGE_PIXELS", 300 * 300)
    monkeypatch.setattr(analysis, "find_sites", never)
    model = torch.nn.Identity()
    model.config = {"pixel_size": 0.3, "patch_size": 48}
    image = np.random.default_rng(0).random((320, 320), dtype=np.float32)
    with pytest.raises(UserInputError) as caught:
        analysis.analyse_image(model, image, 0.3)
    message = str(caught.value)
    assert message == (
        "the 320 x 320 px image is too large: at the model's 0.3 Å/px it is 320 x 320 px, over the limit of "
        "90,000 pixels; crop it, or cut it into tiles of at most 300 x 300 px and embed each"
    )
    assert "pixel size" not in message  # the pixel size is right


def test_embed_refuses_a_pixel_size_that_would_resample_beyond_the_pixel_limit(simulated, trained, tmp_path, capsys):
    image = str(simulated / "image.npy")  # 128 x 128 px at 0.2 Å/px; the model's patches are 0.3 Å/px
    argv = ["crystal", "embed", image, "--model", str(trained), "--quiet", "-o", str(tmp_path / "e")]
    message = _one_line_error(capsys, [*argv, "--pixel-size", "20"])
    assert (
        f"{image}: pixel_size (--pixel-size) 20 Å/px: the 128 x 128 px image resampled to the model's 0.3 Å/px "
        "would be 8,533 x 8,533 px, over the limit of 67,108,864 pixels, a field of view of 2.56e+03 x 2.56e+03 Å; "
        "check the pixel size (Å per pixel)"
    ) in message
    message = _one_line_error(capsys, [*argv, "--pixel-size", "1e300"])
    assert "would be 4.27e+302 x 4.27e+302 px, over the limit" in message
    # a pixel size in nm instead of Å: the image shrinks below one patch, and the message says why
    message = _one_line_error(capsys, [*argv, "--pixel-size", "0.02"])
    assert (
        f"{image}: pixel_size (--pixel-size) 0.02 Å/px: the 128 x 128 px image covers 2.56 x 2.56 Å, less than one "
        "of the model's patches"
    ) in message
    assert "check the pixel size (Å per pixel)" in message


def test_simulate_refuses_a_molecule_in_one_line_naming_the_file(tmp_path, capsys):
    path = tmp_path / "mol.xyz"
    path.write_text("3\nwater\nO 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n")
    message = _one_line_error(capsys, ["crystal", "simulate", "--structure", str(path), "-o", str(tmp_path / "out")])
    assert message.startswith(f"symcl: error: {path}: no periodic cell in the plane (")
