build-dev/obj/lib/sys/title.o: lib/sys/title.c lib/sys/title.h
lib/sys/title.h:
