package main

// keepFromPrograms does nothing on Windows: a program inherits only the
// handles its start names.
func keepFromPrograms() {}
