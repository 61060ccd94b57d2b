"""The processes and their assembly: settings, the Bolt app, serve, socket, console, doctor, the sweep, logs."""
