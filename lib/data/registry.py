"""The dataset registry: one entry per dataset, name -> reader.

Adding a dataset means writing one reader function in `lib/data/readers.py`
and decorating it with `@register(...)`; nothing else changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from lib.data.types import RawData
from lib.errors import UserError

Reader = Callable[[Path, str, "object"], RawData]
EntityLister = Callable[[Path], list[str]]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    read: Reader                          # (folder, entity, cfg) -> RawData
    folders: tuple[str, ...]              # candidate sub-folders of --data_root
    list_entities: Optional[EntityLister]  # folder -> entity names, or None
    description: str
    needs_files: bool = True


DATASETS: dict[str, DatasetSpec] = {}


def register(name: str, folders: tuple[str, ...] = (), entities: Optional[EntityLister] = None,
             description: str = "", needs_files: bool = True) -> Callable[[Reader], Reader]:
    def deco(fn: Reader) -> Reader:
        if name in DATASETS:
            raise ValueError(f"dataset {name} registered twice")
        DATASETS[name] = DatasetSpec(name, fn, folders or (name,), entities, description, needs_files)
        return fn
    return deco


def get_spec(name: str) -> DatasetSpec:
    import lib.data.readers  # noqa: F401  (fills DATASETS)

    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def dataset_folder(spec: DatasetSpec, data_root: str) -> Path:
    """The first candidate folder of `spec` that exists under `data_root`."""
    root = Path(data_root)
    for sub in spec.folders:
        folder = root / sub if sub else root
        if folder.is_dir():
            return folder
    if not spec.needs_files:
        return root
    tried = ", ".join(str(root / s) for s in spec.folders)
    raise UserError(f"dataset {spec.name}: no folder found (tried {tried}); set --data_root or LLM_TSAD_DATA_ROOT")


def list_entities(name: str, data_root: str) -> list[str]:
    spec = get_spec(name)
    if spec.list_entities is None:
        return [""]
    found = spec.list_entities(dataset_folder(spec, data_root))
    if not found:
        raise UserError(f"dataset {name}: no entities found under {dataset_folder(spec, data_root)}")
    return found


def read_dataset(cfg) -> RawData:
    """Read `cfg.data` / `cfg.entity` from `cfg.resolved_data_root()`."""
    spec = get_spec(cfg.data)
    folder = dataset_folder(spec, cfg.resolved_data_root())
    if cfg.entity == "all":
        raise UserError("--entity all names several runs; read them one at a time (run.py does)")
    if cfg.entity and spec.list_entities is None:
        raise UserError(f"dataset {spec.name} has no entities, but --entity {cfg.entity} was given")
    return spec.read(folder, cfg.entity, cfg)
