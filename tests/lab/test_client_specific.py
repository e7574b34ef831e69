"""The client_specific scenario: its known answer, proven from the database it
leaves (see scenarios/client_specific.py)."""

import labtest


class Scenario(labtest.ScenarioTest):
    SCENARIO = "client_specific"


if __name__ == "__main__":
    labtest.main()
