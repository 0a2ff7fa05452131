"""GAN speed, side by side with the reference where there is one.

    .venv/bin/python benchmarks/bench_gan.py [--rounds 5] [--steps 8] [--quick]

Targets (issue 6), on this CPU:
1. DCGAN 64×64, batch 64, ngf = ndf = 64: training images/s of SimStudio's step (`dcgan_step`, the one
   `fit_dcgan` runs) ≥ the pytorch/examples DCGAN (dcgan/main.py) with the identical architecture and
   batch. The reference loop is written out below as that example has it: Sequential G/D, Sigmoid + BCELoss,
   two backward passes for D, `.item()` on every loss and D output each step. Both read the same batches
   from memory (the example's DataLoader decoding is left out, which only flatters the reference).
   Rounds alternate reference / ours so a busy machine slows both alike; the ratio is of the medians.
2. Generation at 64 px with the ngf-32 CPU preset ≥ 1,000 images/s (no autograd, large batches), through
   the same path `generate` uses (per-image seeds), and end to end to PNG files.
3. FID between two sets of 5,000 cached 2048-d feature vectors < 2 s.
Prints the load average too: other processes on a shared box slow every number down. Each figure also
comes with the process CPU time it took (all threads): on a busy machine, CPU seconds / cores is what the
wall time would be on an idle one (an upper bound: threads spinning while they wait count too).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere, without installing the package


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating reference/ours rounds")
    parser.add_argument("--steps", type=int, default=8, help="training steps per round")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and images (a smoke run)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (default: torch's choice, one per core); 1 gives steadier ratios "
                             "on a busy machine")
    parser.add_argument("--only", choices=["training", "generation", "fid"], help="run one benchmark")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.rounds, args.steps = 2, 3
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, cores {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    nan = float("nan")
    train_ratio = bench_training(args.rounds, args.steps) if args.only in (None, "training") else nan
    gen = bench_generation(2_000 if args.quick else 10_000) if args.only in (None, "generation") else nan
    fid_s = bench_fid(1_000 if args.quick else 5_000) if args.only in (None, "fid") else nan
    cores = os.cpu_count() or 1
    print(f"load average at the end {os.getloadavg()[0]:.1f}; process CPU time {time.process_time():.0f} s "
          f"on {cores} cores")
    print(f"\nsummary: training ratio {train_ratio:.2f} (target ≥ 1.0), generation {gen:.0f} images/s (target ≥ 1000), "
          f"FID {fid_s:.2f} s (target < 2)")


# -- 1. training -----------------------------------------------------------------------------------------

def bench_training(rounds: int, steps: int) -> float:
    torch.manual_seed(0)
    batches = [torch.rand(64, 3, 64, 64) * 2 - 1 for _ in range(4)]
    ref, ours = ReferenceDCGAN(), OurDCGAN()
    ref.run(batches, 2)  # warm-up: first-call allocation and oneDNN kernel selection
    ours.run(batches, 2)
    ref_rates, our_rates, ref_cpu, our_cpu = [], [], [], []
    for _ in range(rounds):
        for impl, rates, cpu in ((ref, ref_rates, ref_cpu), (ours, our_rates, our_cpu)):
            c0 = time.process_time()
            rates.append(impl.run(batches, steps))
            cpu.append(steps * 64 / (time.process_time() - c0))
    r, o = statistics.median(ref_rates), statistics.median(our_rates)
    rc, oc = statistics.median(ref_cpu), statistics.median(our_cpu)
    print(f"DCGAN 64 px, batch 64, ngf=ndf=64 training: reference {r:.1f} images/s, ours {o:.1f} images/s, "
          f"ratio {o / r:.2f}  (rounds: ref {_fmt(ref_rates)}; ours {_fmt(our_rates)}); per CPU second: "
          f"reference {rc:.1f}, ours {oc:.1f}, ratio {oc / rc:.2f}")
    return o / r


class ReferenceDCGAN:
    """pytorch/examples dcgan/main.py, training loop and models as written there (nz 100, ngf = ndf = 64)."""

    def __init__(self, nz: int = 100, ngf: int = 64, ndf: int = 64, nc: int = 3):
        self.nz = nz
        self.netG = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())
        self.netD = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())
        self.netG.apply(_weights_init)
        self.netD.apply(_weights_init)
        self.criterion = nn.BCELoss()
        self.optimizerD = torch.optim.Adam(self.netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optimizerG = torch.optim.Adam(self.netG.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def run(self, batches: list[torch.Tensor], steps: int) -> float:
        t0 = time.perf_counter()
        n = 0
        for i in range(steps):
            real_cpu = batches[i % len(batches)]
            batch_size = real_cpu.size(0)
            # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
            self.netD.zero_grad()
            label = torch.full((batch_size,), 1.0, dtype=real_cpu.dtype)
            output = self.netD(real_cpu).view(-1)
            errD_real = self.criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()
            noise = torch.randn(batch_size, self.nz, 1, 1)
            fake = self.netG(noise)
            label.fill_(0.0)
            output = self.netD(fake.detach()).view(-1)
            errD_fake = self.criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.mean().item()
            errD = errD_real + errD_fake
            self.optimizerD.step()
            # (2) Update G network: maximize log(D(G(z)))
            self.netG.zero_grad()
            label.fill_(1.0)
            output = self.netD(fake).view(-1)
            errG = self.criterion(output, label)
            errG.backward()
            D_G_z2 = output.mean().item()
            self.optimizerG.step()
            _ = (errD.item(), errG.item(), D_x, D_G_z1, D_G_z2)  # the example prints these every step
            n += batch_size
        return n / (time.perf_counter() - t0)


def _weights_init(m: nn.Module) -> None:
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        torch.nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        torch.nn.init.normal_(m.weight, 1.0, 0.02)
        torch.nn.init.zeros_(m.bias)


class OurDCGAN:
    """SimStudio's step as `fit_dcgan` runs it: channels-last, fused Adam, one D backward, logits + BCE,
    losses kept on the device (one sync per logging window of 20 steps)."""

    def __init__(self):
        from simstudio.nets.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_init
        from simstudio.train.dcgan import DCGANConfig
        from simstudio.train.gan_session import adam

        cfg = DCGANConfig()
        self.fmt = torch.channels_last
        self.G = DCGANGenerator(100, 64, 64).to(memory_format=self.fmt)
        self.D = DCGANDiscriminator(64, 64).to(memory_format=self.fmt)
        dcgan_init(self.G)
        dcgan_init(self.D)
        self.opt_g = adam(self.G, cfg, torch.device("cpu"))
        self.opt_d = adam(self.D, cfg, torch.device("cpu"))
        self.ones, self.zeros = torch.ones(64), torch.zeros(64)
        self.gen = torch.Generator().manual_seed(0)

    def run(self, batches: list[torch.Tensor], steps: int) -> float:
        from simstudio.train.dcgan import dcgan_step

        t0 = time.perf_counter()
        n = 0
        sums = None
        for i in range(steps):
            real = batches[i % len(batches)].contiguous(memory_format=self.fmt)
            z = torch.randn(real.size(0), 100, 1, 1, generator=self.gen)
            out = dcgan_step(self.G, self.D, self.opt_g, self.opt_d, real, z, "", self.ones, self.zeros)
            vals = torch.stack(list(out.values()))
            sums = vals if sums is None else sums + vals
            if (i + 1) % 20 == 0:
                sums.tolist()  # the logging window's one sync
            n += real.size(0)
        sums.tolist()
        return n / (time.perf_counter() - t0)


# -- 2. generation -----------------------------------------------------------------------------------------

def bench_generation(n: int) -> float:
    from simstudio.nets.dcgan import DCGANGenerator, dcgan_init
    from simstudio.train.dcgan import PRESETS
    from simstudio.train.gan_checkpoints import save_gan_checkpoint
    from simstudio.train.generate import class_generators, generate_images

    preset = PRESETS["cpu-64"]  # ngf 32 at 64 px
    torch.manual_seed(0)
    G = DCGANGenerator(100, preset["ngf"], preset["image_size"])
    dcgan_init(G)
    with tempfile.TemporaryDirectory(prefix="bench-gan-") as tmp:
        ckpt = Path(tmp) / "ckpt" / "last.pt"
        save_gan_checkpoint(ckpt, {"model": "dcgan", "class_name": "lesion", "classes": ["lesion"],
                                   "arch": {"nz": 100, "ngf": preset["ngf"], "ndf": preset["ndf"],
                                            "image_size": preset["image_size"]},
                                   "nets": {"G": G.state_dict()}, "epoch": 0})
        maker = class_generators(str(ckpt), "last", "cpu")["lesion"]
        maker.sample(np.arange(512))  # warm-up
        rates, cpu_rates = [], []
        for r in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            for start in range(0, n, 512):
                maker.sample(np.arange(start, min(n, start + 512)) + r * n)
            rates.append(n / (time.perf_counter() - t0))
            cpu_rates.append(n / (time.process_time() - c0) * (os.cpu_count() or 1))
        rate = statistics.median(rates)
        print(f"generation, 64 px, ngf 32 (cpu-64 preset), batch 512: {rate:.0f} images/s "
              f"(rounds {_fmt(rates)}; from CPU time on an idle box ≈ {statistics.median(cpu_rates):.0f}) "
              f"— uint8 images in memory, per-image seeds")
        os.environ.setdefault("SIMSTUDIO_HOME", str(Path(tmp) / "runs"))
        res = generate_images({"checkpoint": str(ckpt), "out": str(Path(tmp) / "out"), "per_class": n,
                               "which": "last", "device": "cpu"})
        print(f"generation to PNG files + manifest, {n} images: {res['images_per_s']:.0f} images/s")
    return rate


# -- 3. FID --------------------------------------------------------------------------------------------------

def bench_fid(n: int) -> float:
    from simstudio.eval.fidelity import fid

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, 2048)).astype(np.float32)
    b = (rng.standard_normal((n, 2048)) * 1.1 + 0.05).astype(np.float32)
    times, cpu = [], []
    for _ in range(4):
        t0, c0 = time.perf_counter(), time.process_time()
        fid(a, b)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    warm = statistics.median(times[1:])
    print(f"FID, {n} vs {n} cached 2048-d features: first call {times[0]:.2f} s, then median {warm:.2f} s "
          f"(CPU {statistics.median(cpu[1:]):.2f} s over {os.cpu_count()} cores; Cholesky + symmetric "
          f"eigenvalues in float64)")
    return warm


def _fmt(xs: list[float]) -> str:
    return ", ".join(f"{x:.0f}" for x in xs)


if __name__ == "__main__":
    main()
