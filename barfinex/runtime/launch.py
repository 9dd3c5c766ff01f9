"""Start one actor of a topology in this process."""
from __future__ import annotations

import importlib
import logging

from barfinex.config import ConfigError, load_yaml

from . import logs
from .actor import Actor
from .topology import ActorSpec, Topology, load_topology


def actor_class(spec: ActorSpec) -> type[Actor]:
    mod, _, attr = spec.cls.partition(":")
    cls = getattr(importlib.import_module(mod), attr)
    if not (isinstance(cls, type) and issubclass(cls, Actor)):
        raise TypeError(f"{spec.cls} is not a barfinex Actor subclass")
    return cls


def build_actor(topology: Topology, name: str) -> Actor:
    spec = topology.actor(name)
    config, doc = {}, None
    if spec.config_path is not None:
        doc = load_yaml(spec.config_path)
        if not isinstance(doc.data, dict):
            raise ConfigError(spec.config_path, None, None, "an actor config is a mapping")
        config = doc.data
    actor = actor_class(spec)(spec, topology, config)
    actor.config_doc = doc
    return actor


def run_actor(topology_path: str | None, name: str) -> int:
    topology = load_topology(topology_path)
    logs.setup(name)
    actor = build_actor(topology, name)
    logging.getLogger(f"barfinex.{name}").info("starting %s (%s) from %s", name, actor.KIND, topology.path)
    return actor.run()
