"""Devices: the data-parallel mesh, shardings of a TrainingState, multi-host start-up.

The only module that knows about devices. Training is data parallel along one mesh axis,
``DATA``:

- per-env leaves (``env_state`` and ``buffer.data``, env axis first) are split across the
  devices along that axis; every device steps its own envs and holds their replay data;
- everything else (agent parameters, optimiser states, the PRNG key, counters) is
  replicated;
- SGD minibatches are split along the batch axis and the update is compiled by GSPMD with
  replicated parameters, so the InfoNCE logits and the gradients are exactly those of the
  global batch (XLA inserts the all-gathers and all-reduces).

A single-device mesh is the default on one device; the same code then compiles to the
single-device program.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from deepcrl.config import ConfigError

DATA = "data"
"""Name of the data-parallel mesh axis."""

PER_ENV_FIELDS: tuple[tuple[str, ...], ...] = (("env_state",), ("buffer", "data"))
"""Attribute paths of the TrainingState subtrees whose leaves have the env axis first."""

SLURM_STEP_VARIABLES = (
    "SLURM_JOB_ID",
    "SLURM_STEP_NODELIST",
    "SLURM_NTASKS",
    "SLURM_PROCID",
    "SLURM_LOCALID",
)
"""Set inside an `srun` job step; what JAX's SLURM detection reads."""

T = TypeVar("T")


# ---- processes --------------------------------------------------------------------------
def init_distributed() -> bool:
    """Start jax.distributed from the environment, before any JAX computation; True if started.

    Uses JAX_COORDINATOR_ADDRESS + JAX_NUM_PROCESSES + JAX_PROCESS_ID when set, else an
    ``srun`` job step with more than one task (auto-detected by JAX). Does nothing in a
    single plain process (a SLURM batch script included) or when already running.
    """
    if jax.distributed.is_initialized():
        return False
    address = os.environ.get("JAX_COORDINATOR_ADDRESS")
    if address:
        try:
            num_processes = int(os.environ["JAX_NUM_PROCESSES"])
            process_id = int(os.environ["JAX_PROCESS_ID"])
        except (KeyError, ValueError) as err:
            raise ConfigError(
                f"JAX_COORDINATOR_ADDRESS={address} is set but JAX_NUM_PROCESSES and "
                f"JAX_PROCESS_ID are not both integers: set them (process ids 0..N-1)"
            ) from err
        jax.distributed.initialize(address, num_processes=num_processes, process_id=process_id)
        return True
    if all(name in os.environ for name in SLURM_STEP_VARIABLES) and (
        int(os.environ.get("SLURM_STEP_NUM_TASKS", os.environ["SLURM_NTASKS"])) > 1
    ):
        jax.distributed.initialize()  # JAX's SLURM auto-detection: one process per task
        return True
    return False


def is_main_process() -> bool:
    """Whether this process logs, evaluates to disk and writes checkpoints (process 0)."""
    return jax.process_index() == 0


# ---- mesh -------------------------------------------------------------------------------
def resolve_device_count(devices: int | None) -> int:
    """Devices a run uses: ``devices``, or every device of every process when None."""
    return jax.device_count() if devices is None else devices


def make_mesh(devices: int | None = None) -> Mesh:
    """A 1-D ``DATA`` mesh over ``devices`` devices (default: all), split evenly over processes.

    Each process contributes its first devices / process_count local devices; mesh
    positions are ordered by process, then local device, so env i always lives at the same
    global position whatever the process layout.
    """
    n = resolve_device_count(devices)
    processes = jax.process_count()
    available = jax.device_count()
    if n < 1 or n > available:
        raise ConfigError(
            f"devices={n}: {available} {jax.default_backend()} device(s) are available "
            f"across {processes} process(es): use 1 to {available}"
        )
    if n % processes:
        raise ConfigError(
            f"devices={n} does not split over {processes} processes: use a multiple of {processes}"
        )
    per_process = n // processes
    chosen: list[jax.Device] = []
    for p in range(processes):
        local = sorted((d for d in jax.devices() if d.process_index == p), key=lambda d: d.id)
        chosen += local[:per_process]
    return Mesh(np.array(chosen), (DATA,))


def mesh_size(mesh: Mesh) -> int:
    """Devices along the data axis."""
    return int(mesh.shape[DATA])


def describe_split(mesh: Mesh, num_envs: int, batch_size: int, num_eval_envs: int) -> str:
    """'4 devices (cpu) in 1 process: 32 envs, batch 64 and 32 eval envs per device'."""
    n = mesh_size(mesh)
    kind = mesh.devices.flat[0].platform
    return (
        f"{n} device{'s' if n > 1 else ''} ({kind}) in {jax.process_count()} process"
        f"{'es' if jax.process_count() > 1 else ''}: {num_envs // n} envs, batch "
        f"{batch_size // n} and {num_eval_envs // n} eval envs per device"
    )


# ---- shardings ---------------------------------------------------------------------------
def replicated(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole array."""
    return NamedSharding(mesh, PartitionSpec())


def split(mesh: Mesh, axis: int = 0) -> NamedSharding:
    """The array's ``axis`` is split across the data axis."""
    return NamedSharding(mesh, PartitionSpec(*([None] * axis), DATA))


def _path_names(path: Sequence[Any]) -> tuple[str, ...]:
    names = []
    for entry in path:
        name = getattr(entry, "name", None)
        if name is None:
            name = getattr(entry, "key", None)
        names.append(str(name))
    return tuple(names)


def is_per_env(path: Sequence[Any]) -> bool:
    """Whether a TrainingState leaf at ``path`` has the env axis first (sharded)."""
    names = _path_names(path)
    return any(names[: len(prefix)] == prefix for prefix in PER_ENV_FIELDS)


def state_shardings(mesh: Mesh, state: T) -> T:
    """Shardings of a (possibly abstract) TrainingState: per-env leaves split, others replicated."""
    env_sharding, rep = split(mesh), replicated(mesh)
    return jax.tree_util.tree_map_with_path(
        lambda path, _: env_sharding if is_per_env(path) else rep, state
    )


def abstract_on(mesh: Mesh, state: T) -> T:
    """ShapeDtypeStructs of a (possibly abstract) TrainingState carrying its shardings on
    ``mesh``: the restore target that puts a checkpoint from any device count onto ``mesh``."""
    return jax.tree.map(
        lambda x, sharding: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
        state,
        state_shardings(mesh, state),
    )


def state_specs(state: T) -> T:
    """``per_device`` specs of a TrainingState: per-env leaves SPLIT, others REPLICATED."""
    return jax.tree_util.tree_map_with_path(
        lambda path, _: SPLIT if is_per_env(path) else REPLICATED, state
    )


def constrain_state(state: T, mesh: Mesh) -> T:
    """Inside jit: pin a TrainingState to its data-parallel shardings."""
    return jax.lax.with_sharding_constraint(state, state_shardings(mesh, state))


def constrain(tree: T, mesh: Mesh, axis: int | None = 0) -> T:
    """Inside jit: split every leaf's ``axis`` over the data axis (None: replicate)."""
    sharding = replicated(mesh) if axis is None else split(mesh, axis)
    return jax.lax.with_sharding_constraint(tree, jax.tree.map(lambda _: sharding, tree))


def shard_state(state: T, mesh: Mesh) -> T:
    """Place a TrainingState (host numpy arrays or arrays on any other mesh) onto ``mesh``.

    This is how a checkpoint written with N devices resumes on M: per-env leaves are
    re-split along the env axis (env i stays env i), the rest is replicated. With several
    processes each must pass the same full (host) state.
    """
    shardings = state_shardings(mesh, state)

    def place(x: Any, sharding: NamedSharding) -> jax.Array:
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            # Another global layout (multi-process): reshard on device.
            return jax.jit(lambda y: y, out_shardings=sharding)(x)
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])

    return jax.tree.map(place, state, shardings)


def to_host(tree: T) -> T:
    """Full numpy copies of every leaf, in every process (a collective with several processes).

    Replicated leaves are read from a local replica; leaves split across processes are
    gathered, so each process gets e.g. the whole buffer (to save it, or to reshard it).
    """

    def fetch(x: Any) -> Any:
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            if x.is_fully_replicated:
                return np.asarray(x.addressable_data(0))
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(fetch, tree)


# ---- per-device code ----------------------------------------------------------------------
def device_key(key: jax.Array, mesh: Mesh) -> jax.Array:
    """Inside ``per_device``: this device's key (the key itself on a one-device mesh).

    Folding in the device's position gives each device an independent stream; on one
    device the key is left alone so a one-device run draws exactly what the
    single-device trainer draws.
    """
    if mesh_size(mesh) == 1:
        return key
    return jax.random.fold_in(key, jax.lax.axis_index(DATA))


def per_device(
    fn: Callable[..., Any], mesh: Mesh, in_specs: Any, out_specs: Any
) -> Callable[..., Any]:
    """Run ``fn`` on each device's local shards (shard_map over the data axis).

    Specs are pytree prefixes of PartitionSpecs: ``SPLIT`` for arrays split along their
    first axis, ``SPLIT_1`` along the second, ``REPLICATED`` for whole arrays.
    """
    return jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs)


SPLIT = PartitionSpec(DATA)
"""Spec of an array split along its first axis."""
SPLIT_1 = PartitionSpec(None, DATA)
"""Spec of an array split along its second axis."""
REPLICATED = PartitionSpec()
"""Spec of a replicated array."""


def local_count(total: int, mesh: Mesh) -> int:
    """Per-device share of ``total`` (validated to divide evenly)."""
    n = mesh_size(mesh)
    if total % n:
        raise ValueError(f"{total} does not split over {n} devices")
    return total // n
