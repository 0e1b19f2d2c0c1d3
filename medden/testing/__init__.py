"""Conformance checks and pytest fixtures for medden plugins (first- and third-party).

A plugin author holds their plugin to the bar the first-party plugins meet::

    # conftest.py at the root of the plugin's tests
    pytest_plugins = ["medden.testing"]

    # test_plugin.py
    import pytest
    from medden.testing import check_model, check_noise, check_pipeline, plugin_entries

    @pytest.mark.parametrize("name", plugin_entries("acme-medden", "noise"))
    def test_noise_conforms(name):
        check_noise(name)

Loading this module as a pytest plugin provides the fixtures ``medden_site`` (a temporary
``site-packages`` for install-free, fake or broken distributions), ``medden_registries``
(registries refreshed around a test) and ``medden_generator`` (a seeded generator).
Importing it needs pytest (the ``dev`` extra); the core never imports it.
"""

from medden.testing._common import ConformanceError
from medden.testing.distributions import plugin_entries, write_distribution
from medden.testing.fixtures import PluginSite, medden_generator, medden_registries, medden_site
from medden.testing.models import check_model
from medden.testing.noise import check_noise
from medden.testing.pipelines import check_pipeline

__all__ = [
    "ConformanceError",
    "PluginSite",
    "check_model",
    "check_noise",
    "check_pipeline",
    "medden_generator",
    "medden_registries",
    "medden_site",
    "plugin_entries",
    "write_distribution",
]
