// Command noburst is a plugin without Burst. Built as a program, it is also a Go
// executable that is not a plugin.
package main

// Hello is exported, but it is not Burst.
func Hello() string { return "hello" }

func main() {}
