// Command broken does not compile, for the test that Build returns the compiler's output.
package main

func Burst() { undefinedThing() }

func main() {}
