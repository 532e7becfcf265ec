"""Numbers from the environment: every channel refuses a bad one at start-up, naming the variable."""
from __future__ import annotations

import pytest

from connectors.management.config import ManagementConfig
from connectors.settings import ConfigError, positive_int, positive_number
from connectors.staff.config import StaffConfig

TOKEN = "t" * 32


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "-1", "0", "soon"])
def test_a_number_that_is_not_finite_and_above_0_is_refused_by_name(raw):
    with pytest.raises(ConfigError, match="^STAFF_SESSION_HOURS must be"):
        StaffConfig.from_env({"STAFF_SESSION_HOURS": raw})


def test_notify_scan_may_be_0_but_not_nan():
    """NOTIFY_SCAN_SECONDS=0 turns the scan off; "nan" was taken as a number and is now refused."""
    assert ManagementConfig.from_env({"MANAGEMENT_API_TOKEN": TOKEN, "NOTIFY_SCAN_SECONDS": "0"}).notify_scan_seconds == 0
    with pytest.raises(ConfigError, match="NOTIFY_SCAN_SECONDS must be 0 or above"):
        ManagementConfig.from_env({"MANAGEMENT_API_TOKEN": TOKEN, "NOTIFY_SCAN_SECONDS": "nan"})


def test_a_count_of_sign_in_failures_is_a_whole_number():
    assert StaffConfig.from_env({"STAFF_LOGIN_MAX_FAILURES_PER_IP": "50"}).max_failures_per_ip == 50
    with pytest.raises(ConfigError, match="STAFF_LOGIN_MAX_FAILURES_PER_IP must be a whole number"):
        StaffConfig.from_env({"STAFF_LOGIN_MAX_FAILURES_PER_IP": "5.5"})


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_unset_or_blank_gives_the_default(raw):
    assert positive_number(raw, "X", 2.5) == 2.5
    assert positive_int(raw, "X", 3) == 3
