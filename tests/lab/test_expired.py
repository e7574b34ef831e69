"""The expired scenario: its known answer, proven from the database it
leaves (see scenarios/expired.py)."""

import labtest


class Scenario(labtest.ScenarioTest):
    SCENARIO = "expired"


if __name__ == "__main__":
    labtest.main()
