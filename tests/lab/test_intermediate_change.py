"""The intermediate_change scenario: its known answer, proven from the database it
leaves (see scenarios/intermediate_change.py)."""

import labtest


class Scenario(labtest.ScenarioTest):
    SCENARIO = "intermediate_change"


if __name__ == "__main__":
    labtest.main()
