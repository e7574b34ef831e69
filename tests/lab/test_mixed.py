"""The mixed scenario: its known answer, proven from the database it
leaves (see scenarios/mixed.py)."""

import labtest


class Scenario(labtest.ScenarioTest):
    SCENARIO = "mixed"


if __name__ == "__main__":
    labtest.main()
