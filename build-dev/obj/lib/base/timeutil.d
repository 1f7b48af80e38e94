build-dev/obj/lib/base/timeutil.o: lib/base/timeutil.c \
 lib/base/timeutil.h
lib/base/timeutil.h:
