build-dev/obj/lib/sys/fdpass.o: lib/sys/fdpass.c lib/sys/fdpass.h
lib/sys/fdpass.h:
