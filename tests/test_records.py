"""gm/records.py: a frozen_record is the frozen dataclass it replaces, made faster.

Each case builds the same class twice, once with ``dataclass(frozen=True)`` and once with
``frozen_record``, and compares what the two make: fields, defaults, factories, keyword-only
fields, __post_init__, equality, hashing, repr, pickling, replace() and immutability.
"""
from __future__ import annotations

import dataclasses
import inspect
import pickle
import typing
from dataclasses import FrozenInstanceError, dataclass, field

import pytest

from gm.records import frozen_record


def both(make):
    """The class ``make(decorator)`` builds, with each of the two decorators."""
    return make(dataclass(frozen=True)), make(frozen_record)


def rich(decorate):
    @decorate
    class Rich:
        a: int
        b: str = "b"
        items: list = field(default_factory=list)
        tags: dict = field(default_factory=dict, repr=False, compare=False)
        derived: int = field(default=7, init=False)
        unset: int = field(init=False, repr=False, compare=False)
        key: str = field(default="k", kw_only=True)
        d: int = 0                          # a field named like a local of a generated __init__
        self_: int = 0

        def __post_init__(self) -> None:
            if self.a < 0:
                raise ValueError("a must not be negative")
            object.__setattr__(self, "unset", self.a * 2)

    return Rich


@frozen_record
class Point:
    x: int
    y: int = 0


CALLS = [((1,), {}), ((1, "x", [1]), {"tags": {"t": 1}}), ((2,), {"key": "other", "d": 5, "self_": 3}),
         ((3, "y"), {"items": None})]


def test_instances_hold_the_same_fields_in_the_same_order() -> None:
    plain, fast = both(rich)
    for args, kwargs in CALLS:
        p, f = plain(*args, **kwargs), fast(*args, **kwargs)
        assert list(p.__dict__.items()) == list(f.__dict__.items())
        assert repr(p).replace("Rich", "") == repr(f).replace("Rich", "")
        assert dataclasses.astuple(p) == dataclasses.astuple(f)


def test_default_factories_make_a_new_object_each_time() -> None:
    _, fast = both(rich)
    one, two = fast(1), fast(1)
    assert one.items == [] and one.items is not two.items and one.tags is not two.tags
    given: list = []
    assert fast(1, "b", given).items is given


def test_post_init_runs_and_its_errors_reach_the_caller() -> None:
    plain, fast = both(rich)
    assert fast(4).unset == plain(4).unset == 8
    for cls in (plain, fast):
        with pytest.raises(ValueError, match="must not be negative"):
            cls(-1)


def test_wrong_calls_fail_as_the_dataclass_does() -> None:
    plain, fast = both(rich)
    for args, kwargs in [((), {}), ((1, "b", [], {}, 0, 0, 9), {}), ((1,), {"derived": 3}), ((1,), {"nope": 1}),
                         ((1,), {"a": 2})]:
        with pytest.raises(TypeError):
            plain(*args, **kwargs)
        with pytest.raises(TypeError):
            fast(*args, **kwargs)


def test_the_signature_reads_like_the_dataclass_one() -> None:
    plain, fast = both(rich)
    assert str(inspect.signature(fast)) == str(inspect.signature(plain))
    assert fast.__init__.__qualname__.endswith("Rich.__init__")


def test_frozen_equal_hashable_picklable_and_replaceable() -> None:
    _, fast = both(rich)
    value = fast(1, "x", key="z")
    with pytest.raises(FrozenInstanceError):
        value.a = 2
    with pytest.raises(FrozenInstanceError):
        del value.b
    assert value == fast(1, "x", key="z") and value != fast(1, "y", key="z")
    assert value == fast(1, "x", key="z", tags={"ignored": True})       # compare=False
    changed = dataclasses.replace(value, b="y")
    assert (changed.a, changed.b, changed.key, changed.unset) == (1, "y", "z", 2)

    assert pickle.loads(pickle.dumps(Point(1, 2))) == Point(1, 2)
    assert hash(Point(1, 2)) == hash(Point(1, 2)) and len({Point(1, 2), Point(1, 2), Point(2)}) == 2


def test_classes_it_cannot_speed_up_keep_the_dataclass_init() -> None:
    @frozen_record(slots=True)
    class Slotted:
        a: int

    @frozen_record
    class WithInitVar:
        a: int
        seed: dataclasses.InitVar[int] = 0

        def __post_init__(self, seed: int) -> None:
            object.__setattr__(self, "a", self.a + seed)

    @frozen_record
    class WithClassVar:
        a: int
        kind: typing.ClassVar[str] = "k"

    @frozen_record
    class OwnInit:
        a: int

        def __init__(self, text: str) -> None:
            object.__setattr__(self, "a", int(text))

    assert OwnInit("5").a == 5
    assert Slotted(1).a == 1 and not hasattr(Slotted(1), "__dict__")
    assert WithInitVar(1, 2).a == 3
    assert WithClassVar(1).a == 1 and WithClassVar.kind == "k"
    for cls in (Slotted, WithInitVar, WithClassVar):
        assert "__record_self" not in inspect.signature(cls.__init__).parameters


def test_hot_records_of_verification_use_the_fast_init() -> None:
    from seal.ofd.facts import SignatureFacts as OFDSignatureFacts
    from seal.ofd.model import Reference, SignatureInfo
    from seal.ofd.references import ReferenceResult
    from seal.structures import SealSignature
    from verify.engine import SignatureFacts
    from verify.path import PathResult
    from verify.report import Report, SignatureReport

    for cls in (OFDSignatureFacts, Reference, SignatureInfo, ReferenceResult, SealSignature, SignatureFacts,
                PathResult, Report, SignatureReport):
        assert "__record_self" in inspect.signature(cls.__init__).parameters, cls
        assert cls.__dataclass_params__.frozen, cls
