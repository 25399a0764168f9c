"""Compile time, step time and memory of ONE full CRL SGD step versus network depth.

One step is ``CRLAgent.update``: actor + alpha update, then critic update, on one minibatch.
Inputs are Ant-sized (state_dim 29, goal_dim 2 = torso x,y, action_dim 8); width 256,
batch 256 and depth applies to the actor and both critic encoders (``NetworkConfig.depth``).
The step is jitted with the agent state donated, as a trainer would run it.

Measured, every comparison interleaved round by round in this one process (medians):

1. Compile time per depth: wall time of ``jax.jit(update).lower(...)`` (trace + lower) and of
   ``.compile()``, with a fresh function per trial so no cache is hit. Blocks as a
   ``lax.scan`` (default) at every depth; the plainly unrolled Python loop over blocks
   (``scan_blocks=False``) at the smaller depths, to show how its compile time grows.
2. Step time per depth (scan), and scan vs unrolled at ``--compare-depth`` (target: scan
   within 10% of unrolled); scan+remat and any ``--scan-unrolls`` are timed alongside.
3. At ``--remat-depth`` (default 1024): memory from ``compiled.memory_analysis()`` and step
   time with and without ``remat`` (targets: memory cut >= 3x for <= 1.4x time).
   Memory of every compiled variant is also tabulated against depth.

Targets from the issue: compile at depth 1024 <= 1.5x compile at depth 4; scan step within
10% of unrolled at depth 64; remat cuts memory >= 3x for <= 1.4x step time. This script
reports them; it asserts nothing.

Run (about 6-8 minutes on 2 CPU cores; results go to benchmarks/results/sgd_step.{md,json}):

    .venv/bin/python benchmarks/sgd_step.py
    .venv/bin/python benchmarks/sgd_step.py --quick            # depths 4,16,64; ~1-2 min
    .venv/bin/python benchmarks/sgd_step.py --unrolled-depths 4,16,64,256  # slow compiles

On CPU a one-step call pays for allocating (page-faulting) its temporaries every call, which
inflates big temporaries (no remat, unrolled) more than the trainer sees. ``--scan-steps N``
runs N steps per call in a lax.scan, as the trainer does (-> sgd_step_scan<N>.{md,json}):

    .venv/bin/python benchmarks/sgd_step.py --scan-steps 8 --depths 4,16,64 --remat-depth 64
    .venv/bin/python benchmarks/sgd_step.py --scan-steps 2 --depths 4,1024 \\
        --unrolled-depths 4 --compare-depth 4 --big-repeats 2
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import math
import os
import time
from pathlib import Path
from typing import Any

import jax

from _common import (
    CpuMonitor,
    block,
    busy_note,
    fmt_bytes,
    fmt_s,
    interleaved,
    log,
    markdown_table,
    median,
    save_results,
    timed,
)
from deepcrl.agents.crl import CRLAgent, CRLState, make_networks, param_counts
from deepcrl.config import CRLConfig, NetworkConfig

INPUTS = {
    # name: (state_dim, goal_dim, action_dim)
    "ant": (29, 2, 8),
    "point": (2, 2, 2),
    "humanoid": (268, 3, 17),
}


@dataclasses.dataclass(frozen=True)
class Variant:
    """One network configuration whose SGD step is compiled and timed."""

    depth: int
    scan: bool = True
    remat: bool = False
    scan_unroll: int = 1

    @property
    def name(self) -> str:
        """Short label, e.g. 'd64 scan' or 'd1024 scan+remat'."""
        kind = "scan" if self.scan else "unrolled"
        if self.scan and self.scan_unroll > 1:
            kind += f"(unroll={self.scan_unroll})"
        return f"d{self.depth} {kind}" + ("+remat" if self.remat else "")


class Setup:
    """Agent, abstract shapes and a concrete batch for the chosen input sizes."""

    def __init__(self, args: argparse.Namespace) -> None:
        """Read sizes from the parsed arguments."""
        self.state_dim, self.goal_dim, self.action_dim = INPUTS[args.inputs]
        self.width = args.width
        self.batch_size = args.batch
        key = jax.random.PRNGKey(0)
        k_s, k_a, k_g = jax.random.split(key, 3)
        b = self.batch_size
        self.batch = {
            "state": jax.random.normal(k_s, (b, self.state_dim)),
            "action": jax.random.uniform(k_a, (b, self.action_dim), minval=-1.0, maxval=1.0),
            "goal": jax.random.normal(k_g, (b, self.goal_dim)),
        }
        self.key = jax.random.PRNGKey(1)
        self.steps_per_call = args.scan_steps

    def agent(self, v: Variant) -> CRLAgent:
        """The agent for a variant (same depth and width for actor and critics)."""
        net = NetworkConfig(
            depth=v.depth,
            width=self.width,
            remat=v.remat,
            scan_blocks=v.scan,
            scan_unroll=v.scan_unroll,
        )
        nets = make_networks(net, self.state_dim, self.action_dim, self.goal_dim)
        return CRLAgent(nets, CRLConfig(batch_size=self.batch_size))

    def abstract_state(self, v: Variant) -> CRLState:
        """Shapes and dtypes of the agent state, without allocating it."""
        return jax.eval_shape(self.agent(v).init, self.key)

    def compile(self, v: Variant, state: Any) -> tuple[float, float, Any]:
        """Trace+lower seconds, compile seconds and the compiled, state-donating step."""
        agent = self.agent(v)

        steps = self.steps_per_call

        # A fresh function object per call: jax's tracing caches are keyed on it.
        def update(s: CRLState, batch: dict, key: jax.Array) -> tuple[CRLState, dict]:
            if steps == 1:
                return agent.update(s, batch, key)
            # As the trainer runs them: a lax.scan of SGD steps (here on one minibatch).
            step = lambda s, k: agent.update(s, batch, k)
            return jax.lax.scan(step, s, jax.random.split(key, steps))

        t0 = time.perf_counter()
        lowered = jax.jit(update, donate_argnums=0).lower(state, self.batch, self.key)
        t1 = time.perf_counter()
        compiled = lowered.compile()
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, compiled


def memory_stats(compiled: Any) -> dict[str, int | None]:
    """What ``compiled.memory_analysis()`` reports, plus a peak estimate.

    peak ~= arguments + outputs - aliased (donated) bytes + temporaries.
    """
    try:
        m = compiled.memory_analysis()
    except Exception:  # not every backend implements it
        m = None
    if m is None:
        return {"argument": None, "output": None, "alias": None, "temp": None, "peak": None}
    arg, out = m.argument_size_in_bytes, m.output_size_in_bytes
    alias, temp = m.alias_size_in_bytes, m.temp_size_in_bytes
    return {
        "argument": arg,
        "output": out,
        "alias": alias,
        "temp": temp,
        "generated_code": m.generated_code_size_in_bytes,
        "peak": arg + out - alias + temp,
    }


class StepTimer:
    """Times a compiled step on a state shared through ``holder`` (donated on every call).

    A call runs ``setup.steps_per_call`` SGD steps; times are reported per SGD step.
    """

    def __init__(self, compiled: Any, holder: dict, setup: Setup, min_sample_s: float) -> None:
        """Warm up (the first calls also fault in memory) and pick steps per sample."""
        self.compiled, self.holder, self.setup = compiled, holder, setup
        self.cpu_per_step: list[tuple[float, float]] = []
        """(user, system) CPU seconds per step, one pair per sample."""
        self.first_call_s, _ = timed(lambda: self._step())
        self.inner = 1
        if min_sample_s > 0:  # a second warm call calibrates steps per sample
            second, _ = timed(lambda: self._step())
            self.inner = max(1, math.ceil(min_sample_s / max(second, 1e-6)))

    def _step(self) -> Any:
        state, _ = self.compiled(self.holder["state"], self.setup.batch, self.setup.key)
        self.holder["state"] = state
        return state

    def sample(self) -> float:
        """Seconds per SGD step, averaged over ``inner`` consecutive calls."""
        cpu0 = os.times()
        start = time.perf_counter()
        for _ in range(self.inner):
            self._step()
        block(self.holder["state"])
        steps = self.inner * self.setup.steps_per_call
        seconds = (time.perf_counter() - start) / steps
        cpu1 = os.times()
        self.cpu_per_step.append(
            ((cpu1.user - cpu0.user) / steps, (cpu1.system - cpu0.system) / steps)
        )
        return seconds


def parse_ints(text: str) -> list[int]:
    """'4,16,64' -> [4, 16, 64]; '' -> []."""
    return [int(x) for x in text.split(",") if x.strip()]


def main() -> None:
    """Run all three measurements and write the result files."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--depths", default="4,16,64,256,1024", help="scan depths to compile and time")
    p.add_argument("--unrolled-depths", default="4,16,64", help="depths also compiled unrolled")
    p.add_argument("--compare-depth", type=int, default=64, help="depth of scan vs unrolled")
    p.add_argument("--scan-unrolls", default="1", help="lax.scan unroll values at compare-depth")
    p.add_argument("--remat-depth", type=int, default=1024, help="depth of the remat study")
    p.add_argument(
        "--scan-steps",
        type=int,
        default=1,
        help="SGD steps per call, as a lax.scan like the trainer's (default 1: one step); "
        "results then go to sgd_step_scan<N>.{md,json}",
    )
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--inputs", choices=sorted(INPUTS), default="ant", help="state/goal/action")
    p.add_argument("--compile-repeats", type=int, default=2, help="fresh compiles per scan depth")
    p.add_argument(
        "--unrolled-compile-repeats", type=int, default=1, help="fresh compiles per unrolled depth"
    )
    p.add_argument("--repeats", type=int, default=7, help="timing rounds below remat-depth")
    p.add_argument("--big-repeats", type=int, default=3, help="timing rounds at remat-depth")
    p.add_argument("--min-sample-s", type=float, default=0.3, help="min seconds per sample")
    p.add_argument("--quick", action="store_true", help="depths 4,16,64, remat at 64, fewer reps")
    p.add_argument("--out-dir", type=Path, default=None, help="default benchmarks/results")
    args = p.parse_args()
    if args.quick:
        args.depths, args.unrolled_depths, args.remat_depth = "4,16,64", "4,16", 64
        args.compare_depth, args.compile_repeats, args.repeats = 16, 1, 3
        args.big_repeats = 3
    monitor = CpuMonitor()
    setup = Setup(args)
    depths = parse_ints(args.depths)
    unrolled_depths = sorted(set(parse_ints(args.unrolled_depths)) | {args.compare_depth})
    scan_unrolls = sorted(set(parse_ints(args.scan_unrolls)) | {1})
    compare = [Variant(args.compare_depth, scan=False)]
    compare += [Variant(args.compare_depth, scan_unroll=u) for u in scan_unrolls]
    compare.append(Variant(args.compare_depth, remat=True))
    remat_pair = [Variant(args.remat_depth), Variant(args.remat_depth, remat=True)]
    state_dims = f"{setup.state_dim}/{setup.goal_dim}/{setup.action_dim}"
    log(
        f"inputs {args.inputs} (state/goal/action {state_dims}), width {args.width}, "
        f"batch {args.batch}, {jax.devices()[0].platform}"
    )

    # ---- 1. compile time (and memory) per variant ---------------------------------------
    compile_variants = [Variant(d) for d in depths]
    compile_variants += [Variant(d, scan=False) for d in unrolled_depths]
    compile_variants += [Variant(d, remat=True) for d in depths]
    compile_variants += [v for v in compare + remat_pair if v not in compile_variants]
    abstract = {v: setup.abstract_state(v) for v in compile_variants}
    lower_s: dict[Variant, list[float]] = {v: [] for v in compile_variants}
    compile_s: dict[Variant, list[float]] = {v: [] for v in compile_variants}
    memory: dict[Variant, dict] = {}
    executables: dict[Variant, Any] = {}  # the last compile of each variant, reused below
    # Scan depths compile --compile-repeats times, unrolled depths --unrolled-compile-repeats
    # times (their compiles are slow and differ from scan by far more than the noise), the
    # remat and extra variants once (for memory; their compile time is reported too).
    repeats = {v: 1 for v in compile_variants}
    repeats |= {Variant(d): args.compile_repeats for d in depths}
    repeats |= {Variant(d, scan=False): args.unrolled_compile_repeats for d in unrolled_depths}
    for r in range(max(repeats.values())):
        order = compile_variants if r % 2 == 0 else compile_variants[::-1]
        for v in order:
            if r >= repeats[v]:
                continue
            lo, co, compiled = setup.compile(v, abstract[v])
            lower_s[v].append(lo)
            compile_s[v].append(co)
            memory[v] = memory_stats(compiled)
            executables[v] = compiled
            log(f"compile {v.name}: lower {lo:.2f}s compile {co:.2f}s")
            gc.collect()

    # ---- 2. step time per depth (scan) and scan vs unrolled ---------------------------------
    step_variants = [Variant(d) for d in depths if d != args.remat_depth]
    step_variants += [v for v in compare if v not in step_variants]
    step_variants += [Variant(d, scan=False) for d in unrolled_depths if d != args.compare_depth]
    timers: dict[Variant, StepTimer] = {}
    first_call: dict[Variant, float] = {}
    for v in step_variants:
        agent = setup.agent(v)
        holder = {"state": block(jax.jit(agent.init)(setup.key))}
        timers[v] = StepTimer(executables[v], holder, setup, args.min_sample_s)
        first_call[v] = timers[v].first_call_s
        log(f"warm {v.name}: {timers[v].inner} steps per sample")
    samples = interleaved(
        {v.name: timers[v].sample for v in step_variants},
        args.repeats,
        lambda r: log(f"step-time round {r + 1}/{args.repeats} done"),
    )
    step_samples = {v: samples[v.name] for v in step_variants}
    del timers
    gc.collect()

    # ---- 3. remat at the largest depth: both variants share one (donated) state ----------
    agent = setup.agent(remat_pair[0])
    t_init, state = timed(lambda: jax.jit(agent.init)(setup.key))
    log(f"init d{args.remat_depth}: {t_init:.1f}s, params {param_counts(state)['total']:,}")
    holder = {"state": state}
    del state
    big_timers = {}
    remat_first_call: dict[Variant, float] = {}
    for v in remat_pair:
        big_timers[v] = StepTimer(executables[v], holder, setup, 0.0)
        remat_first_call[v] = big_timers[v].first_call_s
        log(f"warm {v.name}: first call {remat_first_call[v]:.1f}s")
    samples = interleaved(
        {v.name: big_timers[v].sample for v in remat_pair},
        args.big_repeats,
        lambda r: log(f"remat round {r + 1}/{args.big_repeats} done"),
    )
    remat_samples = {v: samples[v.name] for v in remat_pair}
    remat_cpu = {v: big_timers[v].cpu_per_step for v in remat_pair}
    del executables
    big_params = param_counts(holder["state"])
    del big_timers, holder
    gc.collect()

    results = Results(
        args=args,
        setup=setup,
        depths=depths,
        unrolled_depths=unrolled_depths,
        compare=compare,
        remat_pair=remat_pair,
        lower_s=lower_s,
        compile_s=compile_s,
        memory=memory,
        step_samples=step_samples,
        first_call=first_call,
        remat_samples=remat_samples,
        remat_first_call=remat_first_call,
        remat_cpu=remat_cpu,
        big_params=big_params,
        cpu=monitor.report(),
    )
    markdown, payload = report(results)
    name = "sgd_step" if args.scan_steps == 1 else f"sgd_step_scan{args.scan_steps}"
    title = "Benchmark: one CRL SGD step vs depth"
    if args.scan_steps > 1:
        title += f" ({args.scan_steps} steps per call in a lax.scan)"
    save_results(name, title, markdown, payload, args.out_dir)


@dataclasses.dataclass
class Results:
    """Everything measured, keyed by variant."""

    args: argparse.Namespace
    setup: Setup
    depths: list[int]
    unrolled_depths: list[int]
    compare: list[Variant]
    remat_pair: list[Variant]
    lower_s: dict[Variant, list[float]]
    compile_s: dict[Variant, list[float]]
    memory: dict[Variant, dict]
    step_samples: dict[Variant, list[float]]
    """Section 2: seconds per step, one sample per round."""
    first_call: dict[Variant, float]
    remat_samples: dict[Variant, list[float]]
    """Section 3 (remat depth): seconds per step, one sample per round."""
    remat_first_call: dict[Variant, float]
    remat_cpu: dict[Variant, list[tuple[float, float]]]
    """Section 3: (user, system) CPU seconds per step, one pair per round."""
    big_params: dict[str, int]
    cpu: dict[str, Any]

    def total_compile(self, v: Variant) -> float:
        """Median trace+lower plus median compile seconds."""
        return median(self.lower_s[v]) + median(self.compile_s[v])

    def step(self, v: Variant) -> float:
        """Median step seconds (section 2, else the remat section)."""
        if v in self.step_samples:
            return median(self.step_samples[v])
        return median(self.remat_samples[v])

    def samples(self, v: Variant) -> list[float]:
        """Step samples (section 2, else the remat section)."""
        return self.step_samples.get(v) or self.remat_samples[v]

    def first(self, v: Variant) -> float:
        """First-call seconds (section 2, else the remat section)."""
        return self.first_call.get(v, self.remat_first_call.get(v, float("nan")))


def met(ok: bool) -> str:
    """'met' or 'MISSED'."""
    return "met" if ok else "MISSED"


def report(res: Results) -> tuple[str, dict[str, Any]]:
    """Markdown tables and the JSON payload."""
    args, setup = res.args, res.setup
    all_depths = sorted(set(res.depths) | set(res.unrolled_depths))
    params = {d: param_counts(setup.abstract_state(Variant(d)))["total"] for d in all_depths}
    parts = [
        f"One `CRLAgent.update` (actor + alpha + critic), inputs `{args.inputs}` (state "
        f"{setup.state_dim}, goal {setup.goal_dim}, action {setup.action_dim}), width "
        f"{args.width}, batch {args.batch}, depth = actor and both critic encoders, agent "
        f"state donated. Medians; compiled variants interleaved within each section.",
        "",
        (
            "Each call runs ONE SGD step, so every call also allocates (and on CPU page-faults) "
            "its temporaries; the trainer runs its steps inside a lax.scan (see --scan-steps)."
            if args.scan_steps == 1
            else f"Each call runs {args.scan_steps} SGD steps in a lax.scan (as the trainer "
            f"does, here on one minibatch); compile times are of that program, step times are "
            f"per SGD step and first calls per call."
        ),
        "",
        busy_note(res.cpu),
        "",
        "## Compile time vs depth",
        "",
        f"trace+lower + `.compile()` = total wall seconds, median of {args.compile_repeats} "
        f"fresh compiles for scan, {args.unrolled_compile_repeats} for unrolled, 1 for "
        f"scan+remat.",
        "",
    ]

    def cell(v: Variant) -> str:
        if v not in res.lower_s:
            return "-"
        lo, co = median(res.lower_s[v]), median(res.compile_s[v])
        return f"{lo:.2f} + {co:.2f} = {lo + co:.2f}"

    rows = [
        [
            d,
            f"{params[d] / 1e6:.1f}M",
            cell(Variant(d)),
            cell(Variant(d, remat=True)),
            cell(Variant(d, scan=False)),
        ]
        for d in all_depths
    ]
    parts.append(
        markdown_table(["depth", "params", "scan (s)", "scan+remat (s)", "unrolled (s)"], rows)
    )
    targets: dict[str, Any] = {}
    lo_d, hi_d = min(res.depths), max(res.depths)
    compile_ratio = res.total_compile(Variant(hi_d)) / res.total_compile(Variant(lo_d))
    compile_only = median(res.compile_s[Variant(hi_d)]) / median(res.compile_s[Variant(lo_d)])
    targets["compile_ratio"] = {
        "depths": [lo_d, hi_d],
        "lower_plus_compile": compile_ratio,
        "compile_only": compile_only,
        "target": 1.5,
        "met": compile_ratio <= 1.5,
    }
    parts += [
        "",
        f"Scan compile (trace+lower+compile) at depth {hi_d} / depth {lo_d}: "
        f"**{compile_ratio:.2f}x** (compile only {compile_only:.2f}x; target <= 1.5x: "
        f"{met(compile_ratio <= 1.5)}).",
    ]
    growth = ", ".join(
        f"d{d} {res.total_compile(Variant(d, scan=False)) / res.total_compile(Variant(d)):.1f}x"
        for d in res.unrolled_depths
        if Variant(d) in res.lower_s
    )
    if growth:
        parts.append(f"Unrolled compile / scan compile at the same depth: {growth}.")

    parts += ["", "## Step time vs depth (scan)", ""]
    rows = []
    for d in res.depths:
        v = Variant(d)
        smp = res.samples(v)
        spread = f"{fmt_s(min(smp))} - {fmt_s(max(smp))}"
        rows.append([d, fmt_s(res.step(v)), spread, len(smp), fmt_s(res.first(v))])
    parts.append(
        markdown_table(["depth", "median step", "min - max", "samples", "first call"], rows)
    )

    parts += ["", f"## Scan vs unrolled at depth {args.compare_depth}", ""]
    unrolled = res.compare[0]
    rows = [
        [
            v.name,
            fmt_s(res.step(v)),
            f"{res.step(v) / res.step(unrolled):.3f}",
            f"{res.total_compile(v):.2f} s",
        ]
        for v in res.compare
    ]
    parts.append(markdown_table(["variant", "median step", "step / unrolled", "compile"], rows))
    scan_ratio = res.step(Variant(args.compare_depth)) / res.step(unrolled)
    targets["scan_vs_unrolled"] = {
        "depth": args.compare_depth,
        "step_ratio": scan_ratio,
        "target": 1.10,
        "met": scan_ratio <= 1.10,
    }
    parts += [
        "",
        f"Scan step / unrolled step at depth {args.compare_depth}: **{scan_ratio:.3f}** "
        f"(target <= 1.10: {met(scan_ratio <= 1.10)}).",
    ]
    other = [
        f"d{d} {res.step(Variant(d)) / res.step(Variant(d, scan=False)):.3f}"
        for d in res.unrolled_depths
        if d != args.compare_depth and Variant(d) in res.step_samples
    ]
    if other:
        parts.append(f"Scan / unrolled step at other depths: {', '.join(other)}.")

    plain, remat = res.remat_pair
    mp, mr = res.memory[plain], res.memory[remat]
    t_plain, t_remat = median(res.remat_samples[plain]), median(res.remat_samples[remat])
    parts += [
        "",
        f"## Remat at depth {args.remat_depth} ({res.big_params['total'] / 1e6:.0f}M parameters)",
        "",
        "Bytes from `compiled.memory_analysis()` of the donated step (peak estimate = "
        "arguments + outputs - aliased + temporaries); step times interleaved over "
        f"{len(res.remat_samples[plain])} rounds on one shared state.",
        "",
    ]
    rows = []
    for key in ("argument", "output", "alias", "temp", "peak"):
        ratio = f"{mp[key] / mr[key]:.2f}x" if mp.get(key) and mr.get(key) else "n/a"
        rows.append([key, fmt_bytes(mp.get(key)), fmt_bytes(mr.get(key)), ratio])
    rows.append(["median step", fmt_s(t_plain), fmt_s(t_remat), f"{t_plain / t_remat:.2f}x"])
    rows.append(
        [
            "first call",
            fmt_s(res.remat_first_call[plain]),
            fmt_s(res.remat_first_call[remat]),
            "",
        ]
    )
    sys_s = {v: median([c[1] for c in res.remat_cpu[v]]) for v in res.remat_pair}
    user_s = {v: median([c[0] for c in res.remat_cpu[v]]) for v in res.remat_pair}
    rows.append(["user CPU / step", fmt_s(user_s[plain]), fmt_s(user_s[remat]), ""])
    rows.append(["system CPU / step", fmt_s(sys_s[plain]), fmt_s(sys_s[remat]), ""])
    parts.append(markdown_table(["", "no remat", "remat", "no remat / remat"], rows))
    parts += [
        "",
        "System CPU per step is mostly the kernel zero-filling freshly mapped pages: the "
        "temporaries are allocated on every call, so it grows with the temp bytes per call "
        "(a CPU effect; a GPU allocator reuses its pool).",
    ]
    time_ratio = t_remat / t_plain
    mem = {k: mp[k] / mr[k] for k in ("temp", "peak") if mp.get(k) and mr.get(k)}
    targets["remat"] = {
        "depth": args.remat_depth,
        "memory_cut_temp": mem.get("temp"),
        "memory_cut_peak": mem.get("peak"),
        "time_ratio": time_ratio,
        "target_memory_cut": 3.0,
        "target_time_ratio": 1.4,
        "met": bool(mem) and mem.get("peak", 0.0) >= 3.0 and time_ratio <= 1.4,
    }
    if mem:
        parts += [
            "",
            f"Remat cuts temporaries **{mem.get('temp', float('nan')):.2f}x** and the whole "
            f"peak **{mem.get('peak', float('nan')):.2f}x** (target >= 3x: "
            f"{met(mem.get('peak', 0.0) >= 3.0)}) at **{time_ratio:.2f}x** the step time "
            f"(target <= 1.4x: {met(time_ratio <= 1.4)}).",
        ]

    parts += ["", "## Memory vs depth (peak estimate / temporaries)", ""]
    rows = []
    for d in all_depths:
        cells = []
        for v in (Variant(d), Variant(d, remat=True), Variant(d, scan=False)):
            m = res.memory.get(v)
            cells.append("-" if m is None else f"{fmt_bytes(m['peak'])} / {fmt_bytes(m['temp'])}")
        rows.append([d, *cells])
    parts.append(markdown_table(["depth", "scan", "scan+remat", "unrolled"], rows))

    payload = {
        "settings": {k: (str(x) if isinstance(x, Path) else x) for k, x in vars(args).items()},
        "inputs": {
            "state_dim": setup.state_dim,
            "goal_dim": setup.goal_dim,
            "action_dim": setup.action_dim,
        },
        "cpu": res.cpu,
        "params_total": {str(d): n for d, n in params.items()},
        "lower_s": {v.name: x for v, x in res.lower_s.items()},
        "compile_s": {v.name: x for v, x in res.compile_s.items()},
        "memory_bytes": {v.name: m for v, m in res.memory.items()},
        "step_s_samples": {v.name: x for v, x in res.step_samples.items()},
        "first_call_s": {v.name: x for v, x in res.first_call.items()},
        "remat_step_s_samples": {v.name: x for v, x in res.remat_samples.items()},
        "remat_first_call_s": {v.name: x for v, x in res.remat_first_call.items()},
        "remat_cpu_user_system_s_per_step": {v.name: x for v, x in res.remat_cpu.items()},
        "targets": targets,
    }
    return "\n".join(parts), payload


if __name__ == "__main__":
    main()
