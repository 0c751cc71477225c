from kakuri.cli.main import app

app()
