"""The healthy scenario: its known answer, proven from the database it
leaves (see scenarios/healthy.py)."""

import labtest


class Scenario(labtest.ScenarioTest):
    SCENARIO = "healthy"


if __name__ == "__main__":
    labtest.main()
