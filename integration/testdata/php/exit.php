<?php
// exit() in the middle of the output: what was printed is the response.
header('Content-Type: text/plain');
echo 'before pid=', getmypid(), "\n";
flush();
exit();
echo "after\n";
