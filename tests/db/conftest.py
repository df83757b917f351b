"""What the repository tests share: each test gets its own freshly migrated SQLite file (`migrated_db`,
tests/conftest.py).

A test module names the repository it tests (`REPOSITORY = NewsRepository`) and its tests take `repo`, that
repository over the migrated file (`repo.db` is the database itself).
"""

import pytest


@pytest.fixture
def repo(request, migrated_db):
    """The test module's `REPOSITORY` over `migrated_db`."""
    return request.module.REPOSITORY(migrated_db)
