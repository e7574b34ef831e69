"""The trust_store scenario: its known answer, proven from the database it
leaves (see scenarios/trust_store.py)."""

import labtest


class Scenario(labtest.ScenarioTest):
    SCENARIO = "trust_store"


if __name__ == "__main__":
    labtest.main()
