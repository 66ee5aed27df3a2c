<?php
// Writes the worker's pid to sleep.pid beside this script, then sleeps s
// seconds: a request that outlives its timeout, and the worker that held it.
file_put_contents(__DIR__ . '/sleep.pid', getmypid());
sleep((int)($_GET['s'] ?? 10));
echo "woke\n";
