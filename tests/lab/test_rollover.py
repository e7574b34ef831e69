"""The rollover scenario: its known answer, proven from the database it
leaves (see scenarios/rollover.py)."""

import labtest


class Scenario(labtest.ScenarioTest):
    SCENARIO = "rollover"


if __name__ == "__main__":
    labtest.main()
