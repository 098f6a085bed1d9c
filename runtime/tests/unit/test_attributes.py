"""Attributes have one representation (`corral.attributes.Attributes`) and one way of being
written as text, wherever they are shown."""

from corral.attributes import Attributes, state_text
from corral.spark.constraints import describe_attributes

TEXT = "rack:r1;cores:8;zones:{a,b};ids:[1-4, 8-9];weight:2.5"


def test_the_json_an_agent_registers_with_reads_back_the_same() -> None:
    attributes = Attributes.parse(TEXT)
    assert Attributes.from_json(attributes.to_json()) == attributes
    assert Attributes.parse(str(attributes)) == attributes
    assert str(attributes) == TEXT


def test_every_view_writes_values_alike() -> None:
    attributes = Attributes.parse("rack:r1;cores:8;zones:{a,b};ids:[8-9,1-4]")
    values = attributes.values()  # what /state shows, on the master and on the agent
    assert values == {"rack": "r1", "cores": 8.0, "zones": "{a,b}", "ids": "[1-4, 8-9]"}
    assert state_text(values) == str(attributes) == "rack:r1;cores:8;zones:{a,b};ids:[1-4, 8-9]"
    assert describe_attributes(attributes.to_json()) == "rack=r1,cores=8,zones={a,b},ids=[1-4, 8-9]"
    assert describe_attributes([]) == "no attributes"


def test_malformed_json_attributes_are_left_out() -> None:
    attributes = Attributes.from_json([
        {"name": "rack", "type": "TEXT", "text": {"value": "r1"}},
        {"type": "TEXT", "text": {"value": "no name"}},
        {"name": "odd", "type": "UNKNOWN"},
        {"name": "cores", "type": "SCALAR", "scalar": {"value": "many"}},
        {"name": "text", "type": "TEXT", "text": {"value": 3}},
        {"name": "ids", "type": "RANGES"},
        "not an attribute",
    ])
    assert attributes.values() == {"rack": "r1"}
    assert Attributes.from_json(None).values() == {}
