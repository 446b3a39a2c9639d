"""Developer and deployment tooling; a package only so that tests import ``infra.rie.run``."""
