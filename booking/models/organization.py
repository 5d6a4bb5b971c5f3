from datetime import datetime

from sqlalchemy import String, func
from sqlalchemy.orm import Mapped, mapped_column

from booking.core import clock
from booking.core.db import Base


class Organization(Base):
    """A legal entity: a university, a company, a lab's host institution.

    Teams, labs and providers name theirs; subsidy is refused where a team and a lab/provider share
    one (self-dealing). Universities are organisations too (a team's university is not its employer).
    """

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, server_default=func.now())
