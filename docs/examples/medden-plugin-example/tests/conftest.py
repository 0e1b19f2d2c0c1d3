"""medden's conformance fixtures for this plugin's tests."""

pytest_plugins = ["medden.testing"]
