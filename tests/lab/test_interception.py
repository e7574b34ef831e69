"""The interception scenario: its known answer, proven from the database it
leaves (see scenarios/interception.py and its check())."""

import labtest


class Scenario(labtest.ScenarioTest):
    SCENARIO = "interception"


if __name__ == "__main__":
    labtest.main()
