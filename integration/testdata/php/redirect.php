<?php
// php-cgi answers Status: 302 Found with the Location.
header('Location: /other.php');
