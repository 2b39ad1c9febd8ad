"""Reading microscope images: .npy, .tif/.tiff, .png/.jpg, and DM3/DM4/EMD through rosettasciio.

Every reader returns a 2-D float array and, when the file records it, the pixel size
in Å (DM3/DM4/EMD axes, and TIFF resolution tags; see :func:`read_image`). Colour
images are converted to grey levels; a NaN or infinite pixel is an error (the site
finder would silently skip it otherwise).
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np

from symcl.errors import UserInputError

#: Suffixes read by the optional rosettasciio package (``pip install rosettasciio``).
RSCIIO_SUFFIXES = {".dm3": "digitalmicrograph", ".dm4": "digitalmicrograph", ".emd": "emd"}
PLAIN_SUFFIXES = (".npy", ".tif", ".tiff", ".png", ".jpg", ".jpeg")
#: The most pixels of an image simulated, or analysed at the model's pixel size: rendering
#: and the lattice estimate each need several float copies of the frame.
MAX_IMAGE_PIXELS = 8192 * 8192
_UNIT_IN_ANGSTROM = {
    "å": 1.0,
    "a": 1.0,
    "angstrom": 1.0,
    "nm": 10.0,
    "pm": 0.01,
    "µm": 1e4,  # the micro sign, U+00B5
    "μm": 1e4,  # the Greek mu, U+03BC
    "um": 1e4,
    "micron": 1e4,
    "microns": 1e4,
}
#: Å per TIFF ResolutionUnit (tifffile.RESUNIT: 2 inch, 3 cm; 4 mm and 5 µm are tifffile's own).
_RESOLUTION_UNIT_IN_ANGSTROM = {2: 2.54e8, 3: 1e8, 4: 1e7, 5: 1e4}
#: The largest Å/px believed from a TIFF ResolutionUnit: beyond it the tags hold a print
#: resolution (a default 72 dpi is 3.5 million Å/px), not a microscope's calibration.
LARGEST_TIFF_PIXEL_SIZE = 10.0
#: Formats whose calibration read_image reads, for messages.
CALIBRATED_FORMATS = (
    "DM3/DM4/EMD files (with rosettasciio) and TIFF files with an ImageJ length unit, or with a resolution unit "
    f"of inch/cm/mm/µm giving at most {LARGEST_TIFF_PIXEL_SIZE:g} Å/px"
)


class MultiPageWarning(UserWarning):
    """A TIFF holds several pages (a stack or series); only the first is read."""


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, float | None]:
    """Read a microscope image.

    Parameters
    ----------
    path : path
        .npy (a 2-D array), .tif/.tiff (first page; a :class:`MultiPageWarning` when there are
        more), .png/.jpg (colour converted to grey, alpha dropped), or
        .dm3/.dm4/.emd when the optional ``rosettasciio`` package is installed.

    Returns
    -------
    image : ndarray
        float32 (H, W).
    pixel_size : float or None
        Å/px, when the file records a spatial calibration, else None. DM3/DM4/EMD: the
        first spatial axis with a length unit. TIFF: XResolution (pixels per unit) in
        the length unit of ImageJ's metadata (nm, µm/um/micron, Å/A/angstrom, pm; a unit
        of "pixel" is no calibration), else in the ResolutionUnit (inch, cm, mm, µm) when
        that gives at most :data:`LARGEST_TIFF_PIXEL_SIZE` Å/px (larger values are print
        resolutions such as 72 dpi, and are ignored).

    Raises
    ------
    FileNotFoundError
        No such file.
    UserInputError
        Unknown suffix, unreadable or non-2-D content, NaN or infinite pixels, a
        DM/EMD file without rosettasciio installed, or a TIFF calibrated with
        different pixel sizes along x and y (not square pixels).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such image file")
    if path.is_dir():
        raise UserInputError(f"{path}: is a directory, not an image file")
    suffix = path.suffix.lower()
    pixel_size = None
    if suffix == ".npy":
        try:
            data = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            raise UserInputError(f"{path}: not a readable .npy array ({error or 'the file is empty'})") from None
    elif suffix in (".tif", ".tiff"):
        import tifffile

        try:
            with tifffile.TiffFile(path) as tiff:
                page = tiff.pages[0]
                data, axes = np.asarray(page.asarray()), page.axes
                pages = len(tiff.pages)
                alpha = bool(page.extrasamples) and int(page.extrasamples[0]) in _TIFF_ALPHA
                inks = page.photometric == tifffile.PHOTOMETRIC.SEPARATED
                resolution = _tiff_resolution(page.tags)
                imagej_unit = (tiff.imagej_metadata or {}).get("unit")
        except Exception as error:  # tifffile raises several types for broken files
            raise UserInputError(f"{path}: not a readable TIFF image ({type(error).__name__}: {error})") from None
        pixel_size = _tiff_pixel_size(path, *resolution, imagej_unit)
        if pages > 1:  # a stack or series: say which frame the sites come from
            warnings.warn(f"{path}: the TIFF has {pages} pages; page 1 is analysed", MultiPageWarning, stacklevel=2)
        if axes == "SYX":  # planar colour: the samples come first
            data = np.moveaxis(data, 0, -1)
        if inks and data.ndim == 3 and data.shape[-1] >= 4:
            data = _inks_as_rgb(data)
        data = _grey(data, grey_alpha=alpha)
    elif suffix in (".png", ".jpg", ".jpeg"):
        import skimage.io

        try:
            data = _cmyk_as_grey(path) if suffix != ".png" else None  # a PNG has no CMYK mode
            data = skimage.io.imread(path) if data is None else data
        except Exception as error:  # imageio raises several types for broken files
            kind = "PNG" if suffix == ".png" else "JPEG"
            raise UserInputError(f"{path}: not a readable {kind} image ({_unreadable_reason(path, error)})") from None
        data = _grey(np.asarray(data), grey_alpha=True)  # two channels in a PNG are grey + alpha
    elif suffix in RSCIIO_SUFFIXES:
        data, pixel_size = _read_rsciio(path, RSCIIO_SUFFIXES[suffix])
    else:
        raise UserInputError(
            f"{path}: unknown image format {suffix or '(no suffix)'!r}; use one of "
            f"{', '.join(PLAIN_SUFFIXES + tuple(RSCIIO_SUFFIXES))}"
        )
    return check_image(data, name=str(path)), pixel_size


def _tiff_resolution(tags) -> tuple[float | None, float | None, int | None]:
    """XResolution and YResolution (pixels per unit; None when absent or zero) and ResolutionUnit of a TIFF page."""

    def per_unit(name: str) -> float | None:
        if name not in tags:
            return None
        numerator, denominator = tags[name].value  # a TIFF RATIONAL
        value = numerator / denominator if denominator else 0.0
        return value if math.isfinite(value) and value > 0 else None

    unit = tags["ResolutionUnit"].value if "ResolutionUnit" in tags else None
    return per_unit("XResolution"), per_unit("YResolution"), None if unit is None else int(unit)


def _tiff_pixel_size(
    path: Path, x_per_unit: float | None, y_per_unit: float | None, resolution_unit: int | None, imagej_unit: object
) -> float | None:
    """Å/px of a TIFF from its resolution tags; see :func:`read_image` for the rule.

    Raises UserInputError when x and y give different pixel sizes: the site finder and the
    patches assume square pixels, which no pixel size can make of this image.
    """
    if x_per_unit is None:
        return None
    if imagej_unit is not None:  # ImageJ writes ResolutionUnit NONE and names the unit here
        unit = str(imagej_unit).strip().lower().replace("\\u00b5", "µ")  # ImageJ escapes the micro sign
        angstrom, source = _UNIT_IN_ANGSTROM.get(unit), f"ImageJ unit {imagej_unit!r}"
    else:
        angstrom = _RESOLUTION_UNIT_IN_ANGSTROM.get(resolution_unit)
        source = f"ResolutionUnit {_resolution_unit_name(resolution_unit)}"
    if angstrom is None:  # "pixel", no unit or an unknown one: not a length
        return None
    x = angstrom / x_per_unit
    y = x if y_per_unit is None else angstrom / y_per_unit
    if imagej_unit is None and x > LARGEST_TIFF_PIXEL_SIZE:  # a print resolution, e.g. 72 dpi
        return None
    if abs(x - y) > 1e-3 * max(x, y):
        raise UserInputError(
            f"{path}: the TIFF's pixels are not square: XResolution gives {x:.6g} Å/px and YResolution "
            f"{y:.6g} Å/px ({source}); resample the image to square pixels first"
        )
    return x


def _resolution_unit_name(code: int | None) -> str:
    """'INCH' for 2, and so on: the name tifffile gives a ResolutionUnit value."""
    import tifffile

    try:
        return tifffile.RESUNIT(code).name
    except ValueError:
        return repr(code)


def check_image(image: np.ndarray, *, name: str = "image") -> np.ndarray:
    """Validate a 2-D image and return it as float32 (H, W).

    Raises
    ------
    UserInputError
        Not 2-D (a single leading or trailing axis of length 1 is squeezed), not
        numeric, smaller than 8 x 8 px, constant, or holding NaN / infinite pixels.
    """
    array = np.asarray(image)
    if array.ndim == 3 and 1 in (array.shape[0], array.shape[-1]):
        array = array.reshape([s for s in array.shape if s != 1] or [1])
    if array.ndim != 2:
        raise UserInputError(f"{name}: expected a 2-D image, got an array of shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) or np.iscomplexobj(array):
        raise UserInputError(f"{name}: expected real pixel values, got dtype {array.dtype}")
    if min(array.shape) < 8:
        raise UserInputError(f"{name}: the image is {array.shape[0]} x {array.shape[1]} px; at least 8 x 8 is needed")
    array = array.astype(np.float32)
    bad = ~np.isfinite(array)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise UserInputError(
            f"{name}: {int(bad.sum())} NaN or infinite pixel(s), the first at row {row}, column {col}; "
            "mask or inpaint them before finding sites"
        )
    if float(array.max()) == float(array.min()):
        raise UserInputError(f"{name}: the image is constant ({float(array.min())}); there is nothing to find")
    return array


#: TIFF ExtraSamples values of an alpha channel (associated, unassociated).
_TIFF_ALPHA = (1, 2)


def _grey(data: np.ndarray, *, grey_alpha: bool) -> np.ndarray:
    """Grey levels of an (H, W, C) image: RGB(A) converted; with ``grey_alpha``, C = 2 is grey + alpha.

    Two channels that are not grey + alpha (two detectors in one TIFF, say) are left as
    they are, for :func:`check_image` to refuse rather than a guess to pick one.
    """
    if data.ndim == 3 and data.shape[-1] in (3, 4):
        from skimage.color import rgb2gray

        return rgb2gray(data[..., :3])
    if data.ndim == 3 and data.shape[-1] == 2 and grey_alpha:
        return data[..., 0]
    return data


def _inks_as_rgb(data: np.ndarray) -> np.ndarray:
    """RGB levels in [0, 1] of CMYK ink amounts (H, W, 4 or more), the naive ink model.

    Read as RGBA, the inks would give an image whose darkness is all in K as constant.
    """
    full = np.iinfo(data.dtype).max if np.issubdtype(data.dtype, np.integer) else 1.0
    ink = data[..., :4].astype(np.float64) / full
    return (1 - ink[..., :3]) * (1 - ink[..., 3:4])


def _cmyk_as_grey(path: Path) -> np.ndarray | None:
    """The grey levels of a CMYK JPEG (as Pillow converts it), None for any other image.

    imageio hands back the four ink channels as they are, which :func:`_grey` would take
    for RGBA (an image whose darkness is all in K then reads as constant).
    """
    from PIL import Image

    with warnings.catch_warnings():  # a huge image's DecompressionBombWarning comes once, from imread
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as picture:
            return np.asarray(picture.convert("L")) if picture.mode == "CMYK" else None


_IMAGE_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # PNG, JPEG


def _unreadable_reason(path: Path, error: Exception) -> str:
    """Why imageio could not read a PNG/JPEG file, in a few words on one line.

    imageio's own message for content it does not recognise spans several lines and
    suggests installing plugins, which does not help with a file that is no image.
    """
    with open(path, "rb") as handle:
        head = handle.read(8)
    if not head:
        return "the file is empty"
    if not head.startswith(_IMAGE_SIGNATURES):
        return "its content is neither PNG nor JPEG"
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else 'no details'}"


def _read_rsciio(path: Path, plugin: str) -> tuple[np.ndarray, float | None]:
    try:
        import importlib

        reader = importlib.import_module(f"rsciio.{plugin}").file_reader
    except ImportError:
        raise UserInputError(
            f"{path}: reading {path.suffix} files needs the optional rosettasciio package "
            "(pip install rosettasciio); or export the image as .tif or .npy"
        ) from None
    try:
        signals = reader(str(path))
    except Exception as error:  # the readers raise many types for broken files
        raise UserInputError(f"{path}: rosettasciio cannot read it ({type(error).__name__}: {error})") from None
    images = [s for s in signals if np.asarray(s.get("data")).ndim == 2]
    if not images:
        raise UserInputError(f"{path}: holds no 2-D image (found {len(signals)} dataset(s) of other shapes)")
    signal = images[0]
    return np.asarray(signal["data"]), _calibration(signal.get("axes", []))


def _calibration(axes: list[dict]) -> float | None:
    """Å/px of the first spatial axis of a rosettasciio axes list, when its unit is a length."""
    for axis in axes:
        unit = str(axis.get("units", "")).strip().lower()
        scale = axis.get("scale")
        if unit in _UNIT_IN_ANGSTROM and isinstance(scale, int | float) and math.isfinite(scale) and scale > 0:
            return float(scale) * _UNIT_IN_ANGSTROM[unit]
    return None
