build-wft/obj/tests/tools/benchpwhash.o: tests/tools/benchpwhash.c
