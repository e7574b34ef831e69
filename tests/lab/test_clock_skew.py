"""The clock_skew scenario: its known answer, proven from the database it
leaves (see scenarios/clock_skew.py)."""

import labtest


class Scenario(labtest.ScenarioTest):
    SCENARIO = "clock_skew"


if __name__ == "__main__":
    labtest.main()
