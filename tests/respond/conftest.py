import pytest

from kakuri.store.config import open_stores


@pytest.fixture
def stores(settings):
    stores = open_stores(settings)
    yield stores
    stores.close()


@pytest.fixture
def session(stores):
    with stores.sessions() as session:
        yield session
