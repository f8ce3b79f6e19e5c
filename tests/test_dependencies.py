"""What PartnerPulse installs leaves a user's environment as other tools expect it."""

import importlib.metadata

import urllib3


def test_urllib3_is_the_real_one():
    # grafana-client 4+ pulls niquests, whose urllib3-future installs itself as the
    # `urllib3` module; requests-based tools (schemathesis among them) then break.
    installed = {d.metadata["Name"].lower() for d in importlib.metadata.distributions()}
    assert not installed & {"urllib3-future", "niquests"}
    owners = importlib.metadata.packages_distributions()["urllib3"]
    assert owners == ["urllib3"], owners
    assert urllib3.__version__.startswith("2.")
