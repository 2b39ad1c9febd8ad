"""find_sites on simulated images, patch cutting, resampling and image reading."""

import warnings

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial import cKDTree

from symcl.domains import crystal
from symcl.errors import UserInputError


def _visible_truth(sim, fraction=0.3, *, inside_only=True):
    """Columns (inside the image) whose intensity is at least ``fraction`` of the brightest host column."""
    intensity = np.array([crystal.column_intensity(n) for n in sim.columns.numbers])
    pixels = sim.columns.pixels
    h, w = sim.image.shape
    inside = (pixels[:, 0] >= 0) & (pixels[:, 0] <= w - 1) & (pixels[:, 1] >= 0) & (pixels[:, 1] <= h - 1)
    visible = intensity >= fraction * max(sim.crystal.intensities())
    return pixels[(inside | (not inside_only)) & visible]


@pytest.mark.parametrize(
    ("material", "pixel_size", "options"),
    [("MoS2", 0.2, {}), ("SrTiO3", 0.15, {"thickness": 3}), ("MoS2", 0.1, {"jitter": 0.03, "drift": (1.0, 0.5)})],
)
def test_find_sites_recall_precision_and_no_duplicates(material, pixel_size, options):
    sim = crystal.simulate(material, shape=(192, 192), pixel_size=pixel_size, dose=2e5, rng=3, **options)
    spacing = 1.824 if material == "MoS2" else 3.905 / np.sqrt(2)
    sites = crystal.find_sites(sim.image, pixel_size, spacing=spacing)
    # Within a quarter spacing of the edge columns are cut off, and a maximum on the edge can be
    # the tail of a column outside: recall and precision are scored away from the edges.
    margin = 0.25 * spacing / pixel_size
    far = np.array(sim.image.shape[::-1]) - 1 - margin
    truth = _visible_truth(sim)
    truth = truth[((truth >= margin) & (truth <= far)).all(axis=1)]
    distance, nearest = cKDTree(sites.positions).query(truth)
    assert np.mean(distance < 0.5) >= 0.95  # recall within half a pixel
    assert len(set(nearest[distance < 0.5])) == int((distance < 0.5).sum())  # one site per column
    interior = sites.positions[((sites.positions >= margin) & (sites.positions <= far)).all(axis=1)]
    back, _ = cKDTree(_visible_truth(sim, inside_only=False)).query(interior)
    assert np.mean(back < 1.0) >= 0.95  # precision: nearly every site is a true column
    pairs = cKDTree(sites.positions).query_pairs(0.5 * spacing / pixel_size)
    assert not pairs  # no duplicates
    assert sites.pixel_size == pixel_size and sites.angstrom.shape == sites.positions.shape


def test_subpixel_refinement_beats_integer_peaks(mos2_image):
    truth = _visible_truth(mos2_image)
    refined = crystal.find_sites(mos2_image.image, 0.2, spacing=1.824)
    coarse = crystal.find_sites(mos2_image.image, 0.2, spacing=1.824, refine=False)
    err_refined = np.median(cKDTree(refined.positions).query(truth)[0])
    err_coarse = np.median(cKDTree(coarse.positions).query(truth)[0])
    assert err_refined < 0.6 * err_coarse


def _gaussian_lattice(spacing: float, sigma: float, size: int = 192) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free Gaussian columns on a square lattice turned by 0.03 rad (so every sub-pixel fraction occurs),
    on a flat background; returns the image and the column positions (x, y) px."""
    turn = np.array([[np.cos(0.03), np.sin(0.03)], [-np.sin(0.03), np.cos(0.03)]])
    index = np.stack(np.meshgrid(np.arange(-2, 17), np.arange(-2, 17)), axis=-1).reshape(-1, 2)
    centres = index * spacing @ turn + [7.3, 5.1]
    centres = centres[((centres > -4 * sigma) & (centres < size + 4 * sigma)).all(axis=1)]
    yy, xx = np.mgrid[:size, :size]
    image = 0.2 + sum(np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)) for x, y in centres)
    return image, centres


@pytest.mark.parametrize(("spacing", "sigma"), [(27.6, 3.8), (13.8, 1.9), (14.2, 1.0)])
def test_subpixel_positions_of_gaussian_columns_are_unbiased(spacing, sigma):
    # A quadratic fit to the intensity pulled positions towards pixel centres: errors up to 0.1-0.27 px,
    # falling with the sub-pixel fraction (slope -0.2 to -0.4).
    image, centres = _gaussian_lattice(spacing, sigma)
    sites = crystal.find_sites(image, 1.0, spacing=spacing)
    inner = sites.positions[((sites.positions > spacing) & (sites.positions < 192 - spacing)).all(axis=1)]
    distance, nearest = cKDTree(centres).query(inner)
    error = inner - centres[nearest]
    fraction = centres[nearest] - np.round(centres[nearest])
    assert len(inner) >= 15 and np.abs(error).max() < 0.01
    assert abs(np.polyfit(fraction.ravel(), error.ravel(), 1)[0]) < 0.01


def test_spacing_is_estimated_from_the_autocorrelation(mos2_image):
    assert crystal.estimate_spacing(mos2_image.image, 0.2) == pytest.approx(1.824, abs=0.1)
    sites = crystal.find_sites(mos2_image.image, 0.2)
    assert sites.spacing == pytest.approx(1.824, abs=0.1) and len(sites) > 100


@pytest.mark.parametrize(
    ("material", "pixel_size", "seed"),
    [("graphene", 0.2, 1), ("graphene", 0.3, 2), ("hBN", 0.15, 2), ("hBN", 0.1, 1), ("MoS2", 0.3, 1)],
)
def test_estimated_spacing_is_the_neighbour_distance_not_the_lattice_constant(material, pixel_size, seed):
    # The autocorrelation's nearest strong peak here is the lattice constant (√3 times the spacing).
    sim = crystal.simulate(material, shape=(160, 160), pixel_size=pixel_size, dose=1e7, rng=seed)
    truth = sim.crystal.nearest_spacing()
    assert crystal.estimate_spacing(sim.image, pixel_size) == pytest.approx(truth, rel=0.1)


def test_find_sites_with_the_estimated_spacing_misses_no_hbn_column():
    sim = crystal.simulate("hBN", shape=(160, 160), pixel_size=0.15, dose=1e7, rng=2)
    truth = _visible_truth(sim)
    estimated = crystal.find_sites(sim.image, 0.15)
    given = crystal.find_sites(sim.image, 0.15, spacing=sim.crystal.nearest_spacing())
    for sites in (estimated, given):
        distance, _ = cKDTree(sites.positions).query(truth)
        assert (distance > 0.3 * 1.446 / 0.15).sum() == 0


def test_a_spacing_the_columns_confirm_is_kept_as_the_autocorrelation_gives_it():
    # SrTiO3 [110]: the autocorrelation's 1.95 Å (SrO to Ti) is what the columns show; the
    # faint O columns 1.38 Å away are not found, so they must not pull the spacing down.
    sim = crystal.simulate("SrTiO3[110]", shape=(160, 160), pixel_size=0.15, dose=1e5, rng=1)
    assert crystal.estimate_spacing(sim.image, 0.15) == pytest.approx(1.95, abs=0.01)


@pytest.mark.parametrize("pixel_size", [0.2, 0.3])
def test_shot_noise_maxima_do_not_shrink_the_estimated_spacing(pixel_size):
    # Graphene at 1e5 e-/Å² is mostly shot noise: the maxima found at any spacing lie closer
    # than it, and following them would shrink the spacing round after round.
    sim = crystal.simulate("graphene", shape=(160, 160), pixel_size=pixel_size, dose=1e5, rng=1)
    assert crystal.estimate_spacing(sim.image, pixel_size) > 0.9 * sim.crystal.nearest_spacing()


def test_find_sites_rejects_bad_input(mos2_image):
    image = mos2_image.image.copy()
    image[5, 7] = np.nan
    with pytest.raises(UserInputError, match="1 NaN or infinite pixel"):
        crystal.find_sites(image, 0.2)
    with pytest.raises(
        UserInputError, match=r"The 'pixel_size' parameter of find_sites must be > 0\. Got -1\.0 instead\."
    ):
        crystal.find_sites(mos2_image.image, -1.0)
    with pytest.raises(UserInputError, match="at least 3 px"):
        crystal.find_sites(mos2_image.image, 2.0, spacing=1.8)
    with pytest.raises(UserInputError, match="expected a 2-D image"):
        crystal.find_sites(np.zeros((4, 30, 30)), 0.2)
    with pytest.raises(UserInputError, match="constant"):
        crystal.find_sites(np.ones((30, 30)), 0.2)


def test_cut_patches_and_resample():
    image = np.arange(30 * 40, dtype=np.float32).reshape(30, 40)
    patches, edge = crystal.cut_patches(image, np.array([[20.2, 15.4], [1.0, 1.0]]), 10)
    np.testing.assert_array_equal(patches[0], image[10:20, 15:25])  # centre pixel P // 2 at the rounded site
    assert edge.tolist() == [False, True] and patches.shape == (2, 10, 10)
    with pytest.raises(UserInputError, match="smaller than one patch"):
        crystal.cut_patches(image, np.zeros((1, 2)), 64)
    sim = crystal.simulate("SrTiO3", shape=(120, 120), pixel_size=0.1, rng=0)
    small, scale = crystal.resample(sim.expected, 0.1, 0.3)
    assert small.shape == (40, 40)
    np.testing.assert_allclose(scale, [1 / 3, 1 / 3])
    # a bright Sr column keeps its place through the resampling
    x, y = sim.columns.pixels[
        [
            i
            for i, n in enumerate(sim.columns.numbers)
            if n[0] == 38 and 30 < sim.columns.pixels[i, 0] < 90 and 30 < sim.columns.pixels[i, 1] < 90
        ][0]
    ]
    xs, ys = (np.array([x, y]) + 0.5) * scale - 0.5
    local = small[int(round(ys)) - 1 : int(round(ys)) + 2, int(round(xs)) - 1 : int(round(xs)) + 2]
    assert local.max() == small[int(round(ys)) - 2 : int(round(ys)) + 3, int(round(xs)) - 2 : int(round(xs)) + 3].max()


def test_read_image_formats(tmp_path, mos2_image):
    import tifffile
    from matplotlib.image import imsave

    image = mos2_image.image
    np.save(tmp_path / "a.npy", image)
    tifffile.imwrite(tmp_path / "a.tif", image)
    imsave(tmp_path / "a.png", image, cmap="gray")
    for name in ("a.npy", "a.tif"):
        data, pixel_size = crystal.read_image(tmp_path / name)
        np.testing.assert_array_equal(data, image)
        assert pixel_size is None
    grey, _ = crystal.read_image(tmp_path / "a.png")
    assert grey.shape == image.shape and np.corrcoef(grey.ravel(), image.ravel())[0, 1] > 0.95
    levels = np.round(255 * (image - image.min()) / np.ptp(image)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", np.stack([levels] * 3, axis=-1), photometric="rgb")
    rgb = np.stack([levels] * 3)
    tifffile.imwrite(tmp_path / "planar.tif", rgb, photometric="rgb", planarconfig="separate")
    for name in ("rgb.tif", "planar.tif"):  # colour TIFFs, samples last or first, are converted like PNGs
        grey, _ = crystal.read_image(tmp_path / name)
        assert grey.shape == image.shape and np.corrcoef(grey.ravel(), image.ravel())[0, 1] > 0.99
    (tmp_path / "a.dm4").write_bytes(b"\0" * 64)
    try:
        import rsciio  # noqa: F401
    except ImportError:
        with pytest.raises(UserInputError, match="needs the optional rosettasciio package"):
            crystal.read_image(tmp_path / "a.dm4")
    (tmp_path / "a.bmpx").write_bytes(b"")
    with pytest.raises(UserInputError, match="unknown image format"):
        crystal.read_image(tmp_path / "a.bmpx")
    with pytest.raises(FileNotFoundError):
        crystal.read_image(tmp_path / "missing.npy")
    np.save(tmp_path / "nan.npy", np.full((16, 16), np.nan))
    with pytest.raises(UserInputError, match="nan.npy: 256 NaN"):
        crystal.read_image(tmp_path / "nan.npy")


@pytest.mark.filterwarnings("ignore:The legacy `DICOM` plugin:DeprecationWarning")  # imageio tries every plugin
def test_an_unreadable_png_or_jpeg_is_one_line_naming_why(tmp_path, mos2_image):
    from matplotlib.image import imsave

    imsave(tmp_path / "good.png", mos2_image.image, cmap="gray")
    files = {
        "text.png": b"hello\n",
        "empty.png": b"",
        "text.jpg": b"hello\n",
        "cut.png": (tmp_path / "good.png").read_bytes()[:200],
    }
    reasons = {"text": "its content is neither PNG nor JPEG", "empty": "the file is empty", "cut": "truncated"}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(UserInputError) as error:
            crystal.read_image(tmp_path / name)
        message = str(error.value)
        kind = "PNG" if name.endswith(".png") else "JPEG"
        assert message.startswith(f"{tmp_path / name}: not a readable {kind} image (") and "\n" not in message
        assert reasons[name.split(".")[0]] in message and "pip install" not in message


def test_grey_alpha_png_is_read_and_a_multi_page_tiff_warns(tmp_path, mos2_image):
    import tifffile
    from PIL import Image

    image = mos2_image.image
    levels = np.round(255 * (image - image.min()) / np.ptp(image)).astype(np.uint8)
    Image.fromarray(np.stack([levels, np.full_like(levels, 255)], axis=-1), mode="LA").save(tmp_path / "la.png")
    grey, _ = crystal.read_image(tmp_path / "la.png")
    np.testing.assert_array_equal(grey, levels)
    tifffile.imwrite(tmp_path / "stack.tif", np.stack([image, image[::-1], image[:, ::-1]]), photometric="minisblack")
    with pytest.warns(crystal.MultiPageWarning, match="stack.tif: the TIFF has 3 pages; page 1 is analysed"):
        data, _ = crystal.read_image(tmp_path / "stack.tif")
    np.testing.assert_array_equal(data, image)


def test_a_two_channel_tiff_without_alpha_is_refused_not_guessed(tmp_path, mos2_image):
    import tifffile

    image = mos2_image.image.astype(np.float32)
    two = np.stack([image, image[::-1]], axis=-1)  # e.g. HAADF and ABF of one scan
    tifffile.imwrite(tmp_path / "two.tif", two, photometric="minisblack", planarconfig="contig")
    with pytest.raises(UserInputError, match=r"two\.tif: expected a 2-D image"):
        crystal.read_image(tmp_path / "two.tif")
    tifffile.imwrite(
        tmp_path / "alpha.tif", two, photometric="minisblack", planarconfig="contig", extrasamples=["unassalpha"]
    )
    np.testing.assert_array_equal(crystal.read_image(tmp_path / "alpha.tif")[0], image)


def test_most_anomalous_ranks_interior_sites_unless_all_are_edge_sites(tmp_path):
    n = 6
    sites = crystal.Sites(np.arange(2 * n, dtype=float).reshape(n, 2), np.ones(n), 0.2, 1.8)
    anomaly = np.array([9.0, 1.0, 3.0, 8.0, 2.0, 5.0])
    edge = np.array([True, False, False, True, False, False])

    def analysis(edge):
        return crystal.SiteAnalysis(sites, np.zeros((n, 4), np.float32), anomaly, np.zeros(n, np.int64), edge)

    assert crystal.most_anomalous(analysis(edge), 2).tolist() == [5, 2]  # sites 0 and 3 are edge sites
    assert crystal.most_anomalous(analysis(np.ones(n, bool)), 2).tolist() == [0, 3]
    assert crystal.most_anomalous(analysis(edge), 0).tolist() == []
    image = np.random.default_rng(0).random((20, 20))
    assert crystal.plot_overlay(image, analysis(edge), tmp_path / "overlay.png").stat().st_size > 0


@pytest.mark.parametrize("min_distance", [1, 2, 3])
def test_local_maxima_equal_skimage_peaks_with_ties(min_distance):
    from skimage.feature import peak_local_max

    from symcl.domains.crystal.sites import local_maxima

    rng = np.random.default_rng(min_distance)
    smooth = ndimage.gaussian_filter(rng.random((120, 90)), 1.5)
    # Quantised like an 8-bit image, with a saturated block: many equal-valued neighbouring maxima.
    quantised = np.round(smooth * 40)
    quantised[10:20, 30:45] = quantised.max()
    for image in (smooth, quantised):
        expected = peak_local_max(image, min_distance=min_distance, exclude_border=False)
        np.testing.assert_array_equal(local_maxima(image, min_distance), expected)


def test_deduplicate_keeps_the_higher_of_two_close_sites():
    from symcl.domains.crystal.sites import deduplicate

    positions, heights = deduplicate(np.array([[0.0, 0.0], [1.0, 0.0], [10.0, 10.0]]), np.array([1.0, 2.0, 3.0]), 2.0)
    np.testing.assert_array_equal(positions, [[1.0, 0.0], [10.0, 10.0]])
    np.testing.assert_array_equal(heights, [2.0, 3.0])


def test_find_sites_merges_a_second_maximum_within_half_a_spacing():
    # A second lobe 8 px beside a column is its own local maximum (the peak window is a quarter
    # spacing, 5 px); only the deduplication at half a spacing makes the pair one site.
    spacing = 20.0
    image, centres = _gaussian_lattice(spacing, 1.5)
    x, y = centres[np.argmin(np.abs(centres - 96).sum(axis=1))]
    yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
    lobed = image + np.exp(-((xx - x - 8) ** 2 + (yy - y) ** 2) / (2 * 1.5**2))
    sites = crystal.find_sites(lobed, 1.0, spacing=spacing)
    assert not cKDTree(sites.positions).query_pairs(0.5 * spacing)
    assert len(sites) == len(crystal.find_sites(image, 1.0, spacing=spacing))


def test_a_cmyk_jpeg_is_read_as_its_grey_levels(tmp_path, mos2_image):
    from PIL import Image

    image = mos2_image.image
    levels = np.round(255 * (image - image.min()) / np.ptp(image)).astype(np.uint8)
    Image.fromarray(levels).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(tmp_path / "cmyk.jpg").mode == "CMYK"
    grey, _ = crystal.read_image(tmp_path / "cmyk.jpg")  # was "the image is constant (0.0)"
    assert grey.shape == image.shape and np.corrcoef(grey.ravel(), image.ravel())[0, 1] > 0.95


def test_a_cmyk_tiff_is_read_as_its_grey_levels(tmp_path, mos2_image):
    from PIL import Image

    image = mos2_image.image
    levels = np.round(255 * (image - image.min()) / np.ptp(image)).astype(np.uint8)
    Image.fromarray(levels).convert("CMYK").save(tmp_path / "cmyk.tif")  # all the darkness in K
    grey, _ = crystal.read_image(tmp_path / "cmyk.tif")  # was "the image is constant (0.0)"
    assert grey.shape == image.shape and np.corrcoef(grey.ravel(), image.ravel())[0, 1] > 0.99


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_huge_images_pillow_warning_comes_once(mos2_image, tmp_path, monkeypatch, suffix):
    from PIL import Image

    image = mos2_image.image
    levels = np.round(255 * (image - image.min()) / np.ptp(image)).astype(np.uint8)
    Image.fromarray(levels).save(tmp_path / f"grey{suffix}")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", levels.size // 2 + 1)  # "huge" for Pillow, below its error
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        crystal.read_image(tmp_path / f"grey{suffix}")
    assert sum(issubclass(w.category, Image.DecompressionBombWarning) for w in caught) == 1


def _calibrated_tiff(path, image, per_unit, unit=None, **options):
    import tifffile

    metadata = {} if unit is None else {"unit": unit}
    tifffile.imwrite(path, image, imagej=unit is not None, resolution=per_unit, metadata=metadata, **options)
    return path


@pytest.mark.parametrize(
    ("unit", "per_unit", "expected"),
    # ImageJ writes µm as "\\u00B5m" (its metadata is ASCII)
    [
        ("nm", 5.0, 2.0),
        ("\\u00B5m", 5e3, 2.0),
        ("um", 5e3, 2.0),
        ("micron", 5e3, 2.0),
        ("A", 0.5, 2.0),
        ("pm", 0.05, 0.2),
    ],
)
def test_an_imagej_tiff_gives_its_pixel_size_in_angstrom(tmp_path, mos2_image, unit, per_unit, expected):
    path = _calibrated_tiff(tmp_path / "cal.tif", mos2_image.image, (per_unit, per_unit), unit)
    image, pixel_size = crystal.read_image(path)
    assert pixel_size == pytest.approx(expected, rel=1e-6) and image.shape == mos2_image.image.shape


def test_a_tiff_resolution_in_cm_is_a_pixel_size_but_a_print_resolution_is_not(tmp_path, mos2_image):
    path = _calibrated_tiff(tmp_path / "cm.tif", mos2_image.image, (5e7, 5e7), resolutionunit="CENTIMETER")
    assert crystal.read_image(path)[1] == pytest.approx(2.0, rel=1e-6)
    path = _calibrated_tiff(tmp_path / "dpi.tif", mos2_image.image, (72, 72), resolutionunit="INCH")
    assert crystal.read_image(path)[1] is None  # 3.5 million Å/px: a default print resolution


def test_an_uncalibrated_tiff_records_no_pixel_size(tmp_path, mos2_image):
    import tifffile

    tifffile.imwrite(tmp_path / "plain.tif", mos2_image.image)
    assert crystal.read_image(tmp_path / "plain.tif")[1] is None
    path = _calibrated_tiff(tmp_path / "pixel.tif", mos2_image.image, (1.0, 1.0), "pixel")
    assert crystal.read_image(path)[1] is None


def test_a_tiff_with_different_x_and_y_pixel_sizes_is_refused(tmp_path, mos2_image):
    path = _calibrated_tiff(tmp_path / "skew.tif", mos2_image.image, (5.0, 4.0), "nm")
    with pytest.raises(UserInputError) as caught:
        crystal.read_image(path)
    assert str(caught.value) == (
        f"{path}: the TIFF's pixels are not square: XResolution gives 2 Å/px and YResolution 2.5 Å/px "
        "(ImageJ unit 'nm'); resample the image to square pixels first"
    )


def test_the_overlay_legend_gives_scores_as_plain_numbers():
    from symcl.domains.crystal.analysis import _score

    assert [_score(x) for x in (280.4, 1038.2, 12.0, 0.853, 1.0)] == ["280", "1038", "12", "0.85", "1"]
