<?php
// The worker's pid and the query parameter q: which process served, and
// that the query reached it.
header('Content-Type: text/plain');
echo 'pid=', getmypid(), ' q=', $_GET['q'] ?? '', "\n";
