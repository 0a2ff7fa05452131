"""The GAN job by model name: `train_gan(config, ctx)` runs the DCGAN, ACGAN or CycleGAN loop that
`config["model"]` names, so one run kind ("gan") covers all three and Resume needs only the run."""

from __future__ import annotations

from typing import Any

from simstudio.jobs import JobContext

GAN_MODELS = ("dcgan", "acgan", "cyclegan")
RUN_KIND = "gan"


def gan_config(model: str, preset: str = "", **overrides: Any):
    """The config dataclass of `model`, from a preset (or the paper defaults) plus overrides."""
    if model == "dcgan":
        from simstudio.train.dcgan import dcgan_config

        return dcgan_config(preset, **overrides)
    if model == "acgan":
        from simstudio.train.acgan import acgan_config

        return acgan_config(preset, **overrides)
    if model == "cyclegan":
        from simstudio.train.cyclegan import cyclegan_config

        return cyclegan_config(preset, **overrides)
    raise ValueError(f"unknown GAN model {model!r}; choose one of {', '.join(GAN_MODELS)}")


def gan_presets(model: str) -> dict[str, dict]:
    import importlib

    if model not in GAN_MODELS:
        raise ValueError(f"unknown GAN model {model!r}; choose one of {', '.join(GAN_MODELS)}")
    return importlib.import_module(f"simstudio.train.{model}").PRESETS


def train_gan(config: Any, ctx: JobContext | None = None) -> dict:
    """Run the loop `config.model` names (a config dataclass or its dict, as stored in a run)."""
    model = config.get("model") if isinstance(config, dict) else getattr(config, "model", None)
    if model == "dcgan":
        from simstudio.train.dcgan import train_dcgan

        return train_dcgan(config, ctx)
    if model == "acgan":
        from simstudio.train.acgan import train_acgan

        return train_acgan(config, ctx)
    if model == "cyclegan":
        from simstudio.train.cyclegan import train_cyclegan

        return train_cyclegan(config, ctx)
    raise ValueError(f"unknown GAN model {model!r}; choose one of {', '.join(GAN_MODELS)}")


def check_gan_config(config: Any) -> None:
    """Validate before submitting, so bad input is a message and not a failed run."""
    model = getattr(config, "model", None)
    import importlib

    if model not in GAN_MODELS:
        raise ValueError(f"unknown GAN model {model!r}; choose one of {', '.join(GAN_MODELS)}")
    getattr(importlib.import_module(f"simstudio.train.{model}"), f"check_{model}_config")(config)


def resume_gan(run_id: str, runner=None):
    """Submit a stopped GAN run again: it continues after the last epoch each model checkpointed."""
    from simstudio.jobs import resume_stopped_run

    return resume_stopped_run(run_id, RUN_KIND, train_gan, "a GAN run", runner)
