"""The domain: policies, the grammar, access rules and the change path. Free of Slack, HTTP and SQL."""
