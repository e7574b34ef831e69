"""The backend_inconsistency scenario: its known answer, proven from the database it
leaves (see scenarios/backend_inconsistency.py and its check())."""

import labtest


class Scenario(labtest.ScenarioTest):
    SCENARIO = "backend_inconsistency"


if __name__ == "__main__":
    labtest.main()
