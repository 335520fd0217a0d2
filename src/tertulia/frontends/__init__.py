"""Front ends move bytes between sockets and sessions; they never decide anything about chat."""
