"""What the repository tests share: each test gets its own freshly migrated SQLite file.

A test module names the repository it tests (`REPOSITORY = NewsRepository`) and its tests take `repo`, that
repository over the migrated file (`repo.db` is the database itself).
"""

import pytest

from db.database import Database
from db.migrate import migrate


@pytest.fixture
async def migrated_db(tmp_path):
    db = Database(tmp_path / "codeblue.db")
    await db.connect()
    await migrate(db)
    yield db
    await db.close()


@pytest.fixture
def repo(request, migrated_db):
    """The test module's `REPOSITORY` over `migrated_db`."""
    return request.module.REPOSITORY(migrated_db)
