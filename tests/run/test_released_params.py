"""Released weights load into a part only with the settings they were trained with: LMAR's state dict
loads strictly whatever its resize R, so the resize (and the switches that keep the state's shape) are
checked against what the authors trained with (lanczos3, no antialias, the fused map), at plan time and
when the weights are converted."""

from __future__ import annotations

import pytest

from lmar.core.errors import LmarError
from lmar.run.config import check_parts


def config(params: dict | None) -> dict:
    lmar = {"type": "lmar", "weights": "authors", **({"params": params} if params is not None else {})}
    return {"datasets": {"mini": {"type": "mini"}}, "backbones": {"unet": {"type": "lmar_unet", "weights": "authors"}},
            "resamplers": {"lmar": lmar}}


@pytest.mark.parametrize("params", [None, {}, {"interpolation": "lanczos3"}, {"interpolation": "lanczos3", "antialias": False}])
def test_the_method_defaults_take_the_released_weights(params):
    check_parts(config(params))


@pytest.mark.parametrize("params, named", [
    ({"interpolation": "bicubic"}, "interpolation: 'lanczos3'"),
    ({"antialias": True}, "antialias: False"),
    ({"embedding": "add"}, "embedding: 'fusion'"),
    ({"compensation": False}, "compensation: True"),
])
def test_other_settings_are_refused_naming_the_key_and_the_setting(params, named):
    with pytest.raises(LmarError) as err:
        check_parts(config(params))
    msg = str(err.value)
    assert msg.startswith("config key resamplers.lmar.params: the released weights were trained with")
    assert named in msg and "remove 'weights'" in msg


def test_conversion_refuses_them_too(tmp_path):
    """The CLI's conversion (``train-resampler --released``) checks before it reads the file."""
    from lmar.run.checkpoint import import_released

    out = tmp_path / "lmar.pt"
    with pytest.raises(LmarError, match="trained with interpolation: 'lanczos3'"):
        import_released("resampler", {"type": "lmar", "params": {"interpolation": "bicubic"}}, tmp_path / "none.bin",
                        out, "config key resamplers.lmar")
    assert not out.exists()
