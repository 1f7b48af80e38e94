build-dev/obj/lib/sys/tunables.o: lib/sys/tunables.c lib/sys/tunables.h \
 lib/sys/conn.h
lib/sys/tunables.h:
lib/sys/conn.h:
