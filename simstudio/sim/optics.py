"""Skin colour from chromophores: absorption spectra reduced to the camera's three bands, and the
two-layer reflectance the renderer's kernels evaluate per pixel.

The model (Tsumura et al., JOSA A 16(9) 1999 and SIGGRAPH 2003: skin colour is exp(-optical density) of
melanin and haemoglobin densities in log-RGB space) with one layer split that makes depth visible:

    R_c = exp(-OD_epidermis_c) * (U_c + (1 - U_c) * A_c * exp(-OD_dermis_c))

OD_epidermis = melanin density * mel_c; OD_dermis = (deep melanin * mel_c + haemoglobin * hb_c) * P_c,
where P_c is the relative path length of band c through the dermis (long wavelengths go deeper); U_c is
light scattered back by the upper dermis before it meets any dermal absorber (collagen, Rayleigh-like,
so bluish) and A_c the albedo of bloodless deep dermis. Deep melanin therefore removes red light from
under a bluish back-scatter: the Tyndall blue-grey of dermal melanin and of the blue-white veil; more
scattering with little pigment is the white of regression and scars.

Spectra: melanin mu_a = 6.6e11 * lambda^-3.33 cm^-1 (Jacques, "Optical properties of biological
tissues: a review", Phys. Med. Biol. 58, 2013); oxy-haemoglobin molar extinction (Prahl, OMLC tabulated
data, 1999); reduced scattering of dermis mu_s' = 46 (lambda/500 nm)^-1.421 cm^-1 (Jacques 2013).
"""

from __future__ import annotations

import functools

import numpy as np

# Camera bands: Gaussian sensitivities (centre, sd) in nm, typical of a consumer RGB sensor.
BANDS_NM = ((615.0, 25.0), (540.0, 28.0), (465.0, 25.0))
# Prahl's HbO2 molar extinction (cm^-1/M), 440-680 nm in 10 nm steps.
_HBO2_NM = np.arange(440, 690, 10, dtype=float)
_HBO2 = np.array([62816, 62816, 44480, 33209, 26629, 23684, 20932, 20035, 24202, 39956, 53236, 43016, 32613,
                  44496, 50104, 14400, 3200, 1506, 942, 610, 442, 368, 320, 294, 277], float)


@functools.lru_cache(maxsize=1)
def band_vectors() -> dict[str, np.ndarray]:
    """Per-band absorption of each chromophore, normalised so the green band of melanin and of
    haemoglobin is 1 (densities are then in 'green optical density' units), and the path factor."""
    lam = np.arange(420.0, 700.0, 1.0)

    def band(values: np.ndarray) -> np.ndarray:
        out = []
        for centre, sd in BANDS_NM:
            w = np.exp(-0.5 * ((lam - centre) / sd) ** 2)
            out.append(float((w * values).sum() / w.sum()))
        return np.array(out)

    mel = band(6.6e11 * lam ** -3.33)
    hb = band(np.interp(lam, _HBO2_NM, _HBO2))
    mus = band(46.0 * (lam / 500.0) ** -1.421)
    rayleigh = band((lam / 500.0) ** -4.0)
    # Diffusion: the depth light reaches goes as 1/sqrt(mu_a mu_s'); for weakly absorbing dermis the
    # mean path to a dermal absorber scales with 1/mu_s' (relative to the red band).
    path = mus[0] / mus
    return {"melanin": mel / mel[1], "haemoglobin": hb / hb[1], "path": path,
            "scatter": rayleigh / rayleigh[1]}


def reflectance(me, md, hb, sc) -> np.ndarray:
    """Linear RGB reflectance (..., 3) of chromophore densities (broadcasting arrays): the same formula
    the kernels evaluate (kept here for calibration and tests)."""
    v = band_vectors()
    me, md, hb, sc = (np.asarray(x, float)[..., None] for x in (me, md, hb, sc))
    od_e = sieve(me * v["melanin"]) + EPIDERMIS_BASE
    od_d = (md * v["melanin"] * DEEP_GAIN + hb * v["haemoglobin"]) * v["path"]
    u = np.minimum(U_BASE * v["scatter"] + sc * U_SCATTER, 0.95)
    r = np.exp(-od_e) * (u + (1 - u) * DERMIS_ALBEDO * np.exp(-od_d)) + SURFACE
    return camera_response(r)


def camera_response(rgb: np.ndarray) -> np.ndarray:
    """A camera's colour-correction matrix as a saturation gain about luminance: consumer sensors'
    matrices have negative off-diagonal terms (about -0.2 to -0.5), which makes browns browner."""
    y = rgb @ LUMA
    return y[..., None] + (rgb - y[..., None]) * (1 + CAMERA_SATURATION)


# Bloodless dermis albedo per band and the stratum corneum/epidermis baseline density: set so that
# fair skin (melanin 0.25, haemoglobin 0.4) reads L* ~ 68, a* ~ 14, b* ~ 12 before any camera cast,
# the centre of REAL-STATS's skin once its cast is removed (skin L* 55-82, median ~66).
DERMIS_ALBEDO = np.array([0.642, 0.592, 0.595])
EPIDERMIS_BASE = np.array([0.02, 0.03, 0.04])
U_BASE = 0.035  # back-scatter of normal upper dermis (green band), scaled by the scatter spectrum
U_SCATTER = np.array([0.62, 0.76, 0.95])  # extra back-scatter per unit of fibrosis/orthokeratosis
DEEP_GAIN = 1.6  # dermal melanin granules are larger and denser than epidermal melanosomes
LUMA = np.array([0.2126, 0.7152, 0.0722])  # Rec. 709 / sRGB luminance
CAMERA_SATURATION = 0.45
# Neutral reflection at the gel / stratum corneum surface: why the darkest pigment reads black-grey
# (L* ~ 13), never pure black, and why dark browns are less saturated than a pure absorber predicts.
SURFACE = 0.018
# Packaged pigment (the sieve effect, Duysens, Biochim. Biophys. Acta 19, 1956): melanin sits in granules, so
# a band's optical density grows ever slower once it is dense; the most absorbed band (blue) saturates
# first. Beyond SIEVE_FROM (per band) an increment x adds x * SIEVE_OD / (SIEVE_OD + x). Without it, dense
# lesions turned an ever more saturated yellow-brown (renderer 5: db* +18.5 on benign lesions darker than
# dL* -28 against real +10.2; slope of db* on dL* -0.46 against real -0.06).
SIEVE_OD, SIEVE_FROM = 1.0, 2.0


def sieve(od):
    """Epidermal melanin's optical density per band after the sieve effect (see SIEVE_OD)."""
    x = np.maximum(np.asarray(od, float) - SIEVE_FROM, 0.0)
    return od - x + x * SIEVE_OD / (SIEVE_OD + x)


def kernel_constants() -> np.ndarray:
    """(10, 3) float64 rows read by the compositing kernel: melanin, deep melanin x path, haemoglobin x
    path, upper back-scatter base, back-scatter gain, dermis albedo, epidermis base, surface reflection,
    camera saturation, (sieve OD, sieve start, 0)."""
    v = band_vectors()
    rows = [v["melanin"], v["melanin"] * DEEP_GAIN * v["path"], v["haemoglobin"] * v["path"],
            U_BASE * v["scatter"], U_SCATTER, DERMIS_ALBEDO, EPIDERMIS_BASE, np.full(3, SURFACE),
            np.full(3, CAMERA_SATURATION), np.array([SIEVE_OD, SIEVE_FROM, 0.0])]
    return np.ascontiguousarray(np.array(rows, np.float64))


# Hair shafts: optical density per band at full darkness. Eumelanin (black, brown) absorbs nearly flat
# at these densities; pheomelanin (blond) absorbs mostly blue; grey hair has little pigment.
HAIR_OD = {"black": (3.2, 3.4, 3.6), "dark_brown": (2.2, 2.7, 3.1), "brown": (1.3, 1.8, 2.3),
           "blond": (0.35, 0.6, 1.0), "grey": (0.45, 0.5, 0.55)}
